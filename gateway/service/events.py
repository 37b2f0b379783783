"""Events from an agency's EDMS about its appeals, recorded once per event id on any face.

Each event moves the appeal through the lifecycle under its row lock, keeps the legal clock (due
dates in the agency's own time zone and working-day calendar), and is appended with the appeal's
next sequence number and an audit record, all in one transaction. An ``answered`` event brings the
agency's signed answer, verified and stored in that same transaction (``answers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from psycopg import Connection
from psycopg.errors import UniqueViolation

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db.audit import append_audit
from gateway.domain import events as ev
from gateway.domain.access_code import digest as access_digest
from gateway.domain.access_code import new_access_code
from gateway.domain.deadlines import LegalClock, clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState, Transition, advance
from gateway.service import answers, push
from gateway.service.cabinet_updates import tell_the_cabinet
from gateway.service.hub import Hub
from gateway.service.mailbox import APPEAL_MESSAGE
from gateway.service.notifications import tell_the_applicant

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EventReceipt:
    appeal_id: UUID
    event_id: str
    seq: int
    type: str
    recorded_at: datetime
    state: str
    repeated: bool = False


def record(hub: Hub, agency_code: str, appeal_id: UUID, event: ev.AgencyEvent) -> EventReceipt:
    """Apply ``event`` to the agency's appeal under its row lock; a repeat answers as the first did."""
    actor = "agency:" + agency_code
    with (
        structlog.contextvars.bound_contextvars(appeal_id=str(appeal_id)),
        hub.pool.connection() as conn,
        conn.transaction(),
    ):
        appeal = appeals_db.find_for_agency(conn, appeal_id, agency_code, lock=True)
        if appeal is None:
            # A redirected appeal is no longer the old agency's, but its repeats still answer.
            earlier = appeals_db.find_event(conn, appeal_id, event.event_id, actor=actor)
            if earlier is None:
                raise Rejection(Code.NOT_FOUND, "no such appeal for this agency", "/appeal_id")
            return _repeat(appeal_id, earlier["state_after"], earlier, event)
        earlier = appeals_db.find_event(conn, appeal_id, event.event_id)
        if earlier is not None:
            return _repeat(appeal_id, appeal["state"], earlier, event)
        agency = agencies_db.get_agency(conn, agency_code)
        assert agency is not None
        clock = clock_for(agency.jurisdiction_profile, agency.timezone)
        today = clock.local_date(datetime.now(UTC))
        ev.check_dates(event, today)
        state, extra = _apply(conn, clock, agency_code, appeal, event)
        for_applicant: dict[str, Any] = {}
        answer = None
        if isinstance(event, ev.Registered) and not appeal["has_access_code"]:
            # Issued at the first registration only: after a redirect the applicant keeps the code
            # (and number) they hold. It reaches the applicant through the cabinet's updates; the
            # lookup compares digests.
            for_applicant["access_code"] = code = new_access_code()
            appeals_db.set_access_code(conn, appeal_id, access_digest(code))
        elif isinstance(event, ev.Answered):
            answer = answers.accept(conn, hub.settings, agency, appeal, event, today)
            extra.update(answer.details)
            for_applicant.update(answer.for_applicant)
        details = {**ev.details(event), **extra}
        row = appeals_db.append_event(conn, appeal_id, event.event_id, event.type, actor, details, state)
        if answer is not None:
            answers.record(conn, appeal_id, row["seq"], row["at"], answer)
        audit = {"event_id": event.event_id, "seq": row["seq"], **details}
        append_audit(conn, appeal_id, actor, event.type.value, audit)
        tell_the_cabinet(conn, appeal_id, row, state, details, for_applicant)
        tell_the_applicant(conn, hub.settings, appeal_id, row, state, details, for_applicant)
    log.info(
        "agency event recorded", appeal_id=str(appeal_id), agency=agency_code, type=event.type.value,
        seq=row["seq"], state=state.value,
    )  # fmt: skip
    return EventReceipt(appeal_id, event.event_id, row["seq"], event.type.value, row["at"], state.value)


def _apply(
    conn: Connection, clock: LegalClock, agency_code: str, appeal: dict[str, Any], event: ev.AgencyEvent
) -> tuple[AppealState, dict[str, Any]]:
    """Move the appeal; returns its new state and what the event adds to its record (due dates)."""
    appeal_id, current = appeal["id"], appeal["state"]
    match event:
        case ev.Registered():
            state = advance(current, Transition.REGISTER, "/type")
            taken = Rejection(
                Code.REGISTRATION_NUMBER_TAKEN,
                "this agency already registered another appeal under this number",
                "/registration_number",
            )
            if appeals_db.registration_taken(conn, agency_code, event.registration_number, appeal_id):
                raise taken
            due = {
                "answer_by": clock.answer_by(event.registered_on),
                "redirect_by": clock.redirect_by(event.registered_on),
            }
            try:
                appeals_db.register(
                    conn, appeal_id, event.registration_number, event.registered_on, state, **due
                )
            except UniqueViolation:  # a concurrent registration or upload took it after the check
                raise taken from None
            return state, {k: v.isoformat() for k, v in due.items()}
        case ev.Assigned():
            state = advance(current, Transition.ASSIGN_EXECUTOR, "/type")
            appeals_db.update(conn, appeal_id, state=state, executor=event.executor)
            return state, {}
        case ev.Extended():
            state = advance(current, Transition.EXTEND, "/type")
            answer_by = clock.extended_answer_by(
                appeal["answer_by"], event.new_due_date, appeal["registered_on"], appeal["extensions"]
            )
            appeals_db.update(
                conn, appeal_id, state=state, answer_by=answer_by, extensions=appeal["extensions"] + 1
            )
            return state, {"answer_by": answer_by.isoformat()}
        case ev.Redirected():
            return _redirect(conn, clock, agency_code, appeal, event)
        case ev.Answered():
            # Checked first, so a premature answer is refused for its timing before its content.
            state = advance(current, Transition.ANSWER, "/type")
        case ev.Declined():
            state = advance(current, Transition.DECLINE, "/type")
            appeals_db.update(conn, appeal_id, state=state)
            return state, _cited(conn, appeal_id, agency_code, event)
        case ev.Closed():
            state = advance(current, Transition.CLOSE, "/type")
    appeals_db.update(conn, appeal_id, state=state)
    return state, {}


def _cited(conn: Connection, appeal_id: UUID, agency_code: str, event: ev.Declined) -> dict[str, Any]:
    """A decline as repeated may cite the earlier appeal: it must be the same applicant's, received
    before, and this agency's (now or once); its registration number is recorded for the lookup."""
    if event.earlier_appeal_id is None:
        return {}
    earlier = appeals_db.same_applicant_earlier(conn, appeal_id, UUID(event.earlier_appeal_id), agency_code)
    if earlier is None:
        raise Rejection(
            Code.INVALID_REQUEST,
            "earlier_appeal_id is not an earlier appeal of this applicant at this agency",
            "/earlier_appeal_id",
        )
    number = earlier["registration_number"]
    return {"earlier_registration_number": number} if number else {}


def _redirect(
    conn: Connection, clock: LegalClock, agency_code: str, appeal: dict[str, Any], event: ev.Redirected
) -> tuple[AppealState, dict[str, Any]]:
    """Forward to the competent agency: its mailbox gets the appeal, this agency loses sight of it.

    A redirect after the legal window (59-FZ art. 8 p.3: 7 days; 300-З: 5 working days) is still
    carried out — keeping a misrouted appeal helps nobody — but recorded as late.
    """
    state = advance(appeal["state"], Transition.REDIRECT, "/type")
    if event.target_agency == agency_code:
        raise Rejection(
            Code.INVALID_REQUEST, "an appeal cannot be redirected to its own agency", "/target_agency"
        )
    target = agencies_db.get_agency(conn, event.target_agency)
    if target is None:
        raise Rejection(
            Code.AGENCY_UNKNOWN, f"no agency {event.target_agency} in the registry", "/target_agency"
        )
    now = datetime.now(UTC)
    in_time = appeal["redirect_by"] is None or clock.local_date(now) <= appeal["redirect_by"]
    register_by = clock_for(target.jurisdiction_profile, target.timezone).register_by(now)
    appeals_db.redirect(conn, appeal["id"], target.code, state, register_by=register_by)
    message_id = mailbox_db.post(conn, target.code, appeal["id"], APPEAL_MESSAGE)
    push.enqueue(conn, message_id)
    return state, {
        "from_agency": agency_code,
        "within_legal_window": in_time,
        "register_by": register_by.isoformat(),
        "mailbox_message": str(message_id),
    }


def _repeat(appeal_id: UUID, state: str, earlier: dict[str, Any], event: ev.AgencyEvent) -> EventReceipt:
    stored = {k: v for k, v in earlier["details"].items() if k in ev.details(event)}
    if earlier["type"] != event.type or stored != ev.details(event):
        raise Rejection(
            Code.EVENT_ID_REUSED, "this event id was already used for a different event", "/event_id"
        )
    return EventReceipt(
        appeal_id, event.event_id, earlier["seq"], earlier["type"], earlier["at"], state, repeated=True
    )
