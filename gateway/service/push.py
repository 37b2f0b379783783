"""Push delivery of appeals to agencies registered ``push-soap``.

Their mailbox messages are also queued in the outbox (in the transaction that posts them); the
delivery worker hands them to the agency's endpoint. A push the endpoint accepted counts as the
agency having leased and acknowledged the message, so the appeal's lifecycle and the mailbox
read the same as for a pulling agency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg import Connection

from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db import outbox as outbox_db
from gateway.adapters.db.audit import append_audit
from gateway.domain.delivery import DeliveryError
from gateway.domain.lifecycle import Transition, sources, target

SED_PUSH = "sed-push"
ACTOR = "hub:push"


def prepare(conn: Connection, queued: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The push's payload and documents, read now: the appeal's signed envelope and its headers."""
    message_id = UUID(str(queued["message_id"]))
    view = mailbox_db.for_push(conn, message_id)
    if view is None or view["refused_at"] is not None:
        raise DeliveryError("the mailbox message is gone or was refused", permanent=True)
    payload = {
        "agency_code": view["agency_code"],
        "message_id": str(view["message_id"]),
        "appeal_id": str(view["appeal_id"]),
        "portal_message_id": str(view["portal_message_id"]),
        "sender_id": view["sender_id"],
        "portal_appeal_id": view["portal_appeal_id"],
        "received_at": view["received_at"].isoformat(),
        "routing": {
            "topic_code": view["topic_code"],
            "territory_code": view["territory_code"],
            "addressee_code": view["addressee_code"],
        },
        "attachments": [dict(a) for a in view["attachments"]],
    }
    return payload, {"envelope": bytes(view["raw"])}


def delivered(conn: Connection, queued: Mapping[str, Any]) -> None:
    """The agency's endpoint has the appeal: the message is taken, as if leased and acknowledged."""
    taken_from = sources(Transition.LEASE) | sources(Transition.ACKNOWLEDGE)
    row = mailbox_db.take_pushed(
        conn, UUID(str(queued["message_id"])), actor=ACTOR, taken=(taken_from, target(Transition.ACKNOWLEDGE))
    )
    if row is not None:
        details = {"mailbox_message": str(row["id"]), "agency": queued["agency_code"]}
        append_audit(conn, row["appeal_id"], ACTOR, "pushed", details)


def enqueue(conn: Connection, mailbox_message_id: UUID) -> None:
    """Queue a just-posted mailbox message for push, if its agency takes pushes."""
    outbox_db.enqueue_push(conn, SED_PUSH, mailbox_message_id)
