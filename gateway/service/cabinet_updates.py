"""The citizen's cabinet's status updates: one per event of an appeal, each self-contained.

Every update is written to the outbox in its event's own transaction, under the appeal's row lock,
and carries the appeal's whole public state as of that event (:func:`status.public_state`) plus
what only the applicant may see: the access code, from the registration on, and the agency's
answer, from the answer on. Updates may reach the cabinet out of order (a retry overtaken by the
next one) and the contract tells the cabinet to keep the one with the highest ``seq``; since that
one holds everything, an update that loses the race loses nothing (cabinet callback, version 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg import Connection

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import outbox as outbox_db
from gateway.domain.events import PUBLIC_DETAILS
from gateway.domain.incoming_mail import EMAIL_SENDER
from gateway.domain.lifecycle import AppealState
from gateway.service import status

CABINET = "cabinet"


def tell_the_cabinet(
    conn: Connection,
    appeal_id: UUID,
    event: dict[str, Any],
    state: AppealState,
    details: dict[str, Any],
    for_applicant: dict[str, Any],
) -> None:
    """Queue the status update of ``event`` (the appended ``appeal_event`` row).

    ``for_applicant`` is what this event gives the applicant (a new access code; the answer, with
    its signed document named by digest in ``documents`` for the delivery to resolve); what earlier
    events gave is repeated from their updates. The idempotency key and the sequence number let
    the cabinet drop repeats and stale updates.

    An appeal an operator registered from an e-mail has no cabinet (no portal knows it): nothing
    is queued for it, or every update would die at the portal as an unknown appeal.
    """
    if _from_email(conn, appeal_id):
        return
    payload = {
        **event_facts(conn, appeal_id, event, state, details),
        **_owed(conn, appeal_id),
        **for_applicant,
    }
    key = f"{CABINET}:{appeal_id}:{event['seq']}"
    outbox_db.enqueue(conn, CABINET, appeal_id, event["seq"], key, payload)


def event_facts(
    conn: Connection, appeal_id: UUID, event: dict[str, Any], state: AppealState, details: dict[str, Any]
) -> dict[str, Any]:
    """What every message about an event carries, whatever the channel: the event's public facts
    and the appeal's whole public state as of it (read in the event's transaction)."""
    return {
        "appeal_id": str(appeal_id),
        "seq": event["seq"],
        "type": event["type"],
        "state": state.value,
        "at": event["at"].isoformat(),
        "details": {k: v for k, v in details.items() if k in PUBLIC_DETAILS},
        "appeal": status.public_state(conn, appeal_id),
    }


def _from_email(conn: Connection, appeal_id: UUID) -> bool:
    return appeals_db.sender_of(conn, appeal_id) == EMAIL_SENDER


def _owed(conn: Connection, appeal_id: UUID) -> dict[str, Any]:
    """The access code and the answer (with its ``documents``) the appeal's earlier updates gave."""
    owed = outbox_db.owed_to_applicant(conn, appeal_id, (CABINET,))
    carried: dict[str, Any] = {}
    if owed["access_code"] is not None:
        carried["access_code"] = owed["access_code"]
    if owed["answer"] is not None:
        carried.update({k: v for k, v in owed["answer"].items() if v is not None})
    return carried


def complete(conn: Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of an outbox row, with what an update queued before contract 2 lacks.

    Such an update carries neither the appeal's public state nor what earlier updates gave the
    applicant; it gets them as they are now, when it is delivered (the best the hub can still do
    for it: the cabinet keeps whichever update has the highest ``seq``). Updates written since
    carry their own, as of their event, and pass unchanged.
    """
    payload = row["payload"]
    if "appeal" in payload:
        return payload
    appeal_id = row["appeal_id"]
    return {
        **_owed(conn, appeal_id),
        **payload,
        "appeal": status.public_state(conn, appeal_id),
    }
