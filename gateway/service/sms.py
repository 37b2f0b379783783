"""SMS delivery receipts into the database, and what operators and tests read of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.mail.sms.receipts import Receipt
from gateway.adapters.db import sms as sms_db
from gateway.service.hub import Hub


def receipt_recorder(hub: Hub) -> Callable[[Receipt], None]:
    """The listener's ``record``: one short transaction per receipt; raises if the database is away."""

    def record(receipt: Receipt) -> None:
        with hub.pool.connection() as conn:
            sms_db.record_receipt(
                conn, receipt.message_id, receipt.state, receipt.error_code, receipt.done_at
            )

    return record


def sms_parts(hub: Hub, outbox_id: int) -> list[dict[str, Any]]:
    """Each part of one SMS notification: the SMSC's message id and the receipt's state, if any."""
    with hub.pool.connection() as conn:
        return sms_db.parts_of(conn, outbox_id)
