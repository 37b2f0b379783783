"""The manual-routing queue: appeals no rule could route wait here until an operator assigns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import holds as holds_db
from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import Transition, advance
from gateway.service import push
from gateway.service.hub import Hub
from gateway.service.mailbox import APPEAL_MESSAGE


def waiting(hub: Hub, limit: int = 100) -> list[dict[str, Any]]:
    """Unrouted appeals, oldest first: routing facts only, never the applicant or the text."""
    if not 1 <= limit <= 1000:
        raise Rejection(Code.INVALID_REQUEST, "limit must be 1 to 1000", "/limit")
    return db_read(hub.pool, lambda conn: appeals_db.awaiting_manual_routing(conn, limit))


def assign(hub: Hub, operator: str, appeal_id: UUID, agency_code: str) -> UUID:
    """Route an unrouted appeal to ``agency_code``: its mailbox gets the message in the same commit."""
    with hub.pool.connection() as conn, conn.transaction():
        appeal = appeals_db.find(conn, appeal_id, lock=True)
        if appeal is None:
            raise Rejection(Code.NOT_FOUND, "no such appeal", "/appeal_id")
        agency = agencies_db.get_agency(conn, agency_code)
        if agency is None:
            raise Rejection(Code.AGENCY_UNKNOWN, f"no agency {agency_code} in the registry", "/agency_code")
        state = advance(appeal["state"], Transition.ASSIGN)
        clock = clock_for(agency.jurisdiction_profile, agency.timezone)
        appeals_db.assign(
            conn, appeal_id, agency_code, state, register_by=clock.register_by(datetime.now(UTC))
        )
        # An appeal held for its scan (fail-open intake) gets its message when the scan passes.
        message_id = holds_db.held_message(conn, appeal_id)
        if message_id is None:
            message_id = mailbox_db.post(conn, agency_code, appeal_id, APPEAL_MESSAGE)
            push.enqueue(conn, message_id)
        append_audit(
            conn, appeal_id, operator, "routed",
            {"agency": agency_code, "mailbox_message": str(message_id), "by": "operator"},
        )  # fmt: skip
    return message_id
