"""Events from an agency's EDMS about its appeals, recorded once per event id on any face."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db.audit import append_audit
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import AgencyEvent, Registered
from gateway.domain.lifecycle import AppealState, Transition, advance
from gateway.service.hub import Hub


@dataclass(frozen=True, slots=True)
class EventReceipt:
    appeal_id: UUID
    event_id: str
    seq: int
    type: str
    recorded_at: datetime
    state: str
    repeated: bool = False


def record(hub: Hub, agency_code: str, appeal_id: UUID, event: AgencyEvent) -> EventReceipt:
    """Apply ``event`` to the agency's appeal under its row lock; a repeat answers as the first did."""
    actor = "agency:" + agency_code
    with hub.pool.connection() as conn, conn.transaction():
        appeal = appeals_db.find_for_agency(conn, appeal_id, agency_code, lock=True)
        if appeal is None:
            raise Rejection(Code.NOT_FOUND, "no such appeal for this agency", "/appeal_id")
        earlier = appeals_db.find_event(conn, appeal_id, event.event_id)
        if earlier is not None:
            return _repeat(appeal_id, appeal["state"], earlier, event)
        state = _apply(conn, agency_code, appeal, event)
        row = appeals_db.append_event(conn, appeal_id, event.event_id, event.type, actor, event.details())
        details = {"event_id": event.event_id, "seq": row["seq"], **event.details()}
        append_audit(conn, appeal_id, actor, event.type.value, details)
    return EventReceipt(appeal_id, event.event_id, row["seq"], event.type.value, row["at"], state.value)


def _apply(conn: Any, agency_code: str, appeal: dict[str, Any], event: AgencyEvent) -> AppealState:
    match event:
        case Registered():
            state = advance(appeal["state"], Transition.REGISTER, "/type")
            if appeals_db.registration_taken(conn, agency_code, event.registration_number, appeal["id"]):
                raise Rejection(
                    Code.REGISTRATION_NUMBER_TAKEN,
                    "this agency already registered another appeal under this number",
                    "/registration_number",
                )
            appeals_db.register(conn, appeal["id"], event.registration_number, event.registered_on, state)
            return state


def _repeat(appeal_id: UUID, state: str, earlier: dict[str, Any], event: AgencyEvent) -> EventReceipt:
    if earlier["type"] != event.type or earlier["details"] != event.details():
        raise Rejection(
            Code.EVENT_ID_REUSED, "this event id was already used for a different event", "/event_id"
        )
    return EventReceipt(
        appeal_id, event.event_id, earlier["seq"], earlier["type"], earlier["at"], state, repeated=True
    )
