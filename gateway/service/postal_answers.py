"""Answers sent by post (ReplyPreference=post): the operators' list of answers to post, and the
mark that one was posted, with its date and tracking number.

The list is derived, not kept: an answered appeal whose applicant chose ``post`` is on it until
an operator records its ``dispatched`` event. That event is the appeal's own, appended under its
row lock with the next ``seq`` like an agency's: the audit trail gets it, the cabinet gets an
update with it (so the applicant sees the tracking number there), and the public lookup shows it
as ``postal_dispatch``. It does not move the appeal through the lifecycle: the answer was given
when the agency signed it; posting it is how it reaches the applicant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import structlog

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import postal_answers as postal_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.domain import postal_dispatch as pd
from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState
from gateway.service.cabinet_updates import tell_the_cabinet
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)

PENDING, DISPATCHED = "pending", "dispatched"
# One posting per appeal: the event id is fixed, and the database's unique (appeal_id, event_id)
# holds it even against a race the row lock already prevents.
_EVENT_ID = "operator:postal-dispatch"


@dataclass(frozen=True, slots=True)
class Dispatch:
    appeal_id: UUID
    seq: int
    dispatched_on: date
    tracking_number: str
    at: datetime


def answers_to_post(hub: Hub, state: str = PENDING, limit: int = 500) -> list[dict[str, Any]]:
    """Answered appeals to post (``pending``, oldest answer first) or posted (``dispatched``), with
    what a clerk needs on the envelope: the applicant's name and postal address (personal data:
    show it, never log it), the agency, the registration number and the answer's id."""
    if state not in (PENDING, DISPATCHED):
        raise Rejection(Code.INVALID_REQUEST, f"state must be {PENDING} or {DISPATCHED}", "/state")
    if not 1 <= limit <= 1000:
        raise Rejection(Code.INVALID_REQUEST, "limit must be 1 to 1000", "/limit")
    return db_read(
        hub.pool, lambda conn: postal_db.answers_to_post(conn, dispatched=state == DISPATCHED, limit=limit)
    )


def dispatch(
    hub: Hub, operator: str, appeal_id: UUID, dispatched_on: str | None, tracking_number: str | None
) -> Dispatch:
    """Record that the answer went by post: refused for an appeal not answered yet
    (``not-answered``), one whose applicant did not ask for post (``not-by-post``), and a second
    time (``already-dispatched``: a wrong number is corrected by an engineer, on the record)."""
    number = pd.check_tracking_number(tracking_number)
    with hub.pool.connection() as conn, conn.transaction():
        appeal = postal_db.for_dispatch(conn, appeal_id)
        if appeal is None:
            raise Rejection(Code.NOT_FOUND, "no such appeal", "/appeal_id")
        if appeal["reply_preference"] != pd.REPLY_BY_POST:
            raise Rejection(
                Code.NOT_BY_POST, "the applicant did not ask for the answer by post", "/appeal_id"
            )
        if appeal["answered_on"] is None:
            raise Rejection(Code.NOT_ANSWERED, "the agency has not answered this appeal yet", "/appeal_id")
        if appeal["dispatched_seq"] is not None:
            raise Rejection(Code.ALREADY_DISPATCHED, "this answer is already marked as posted", "/appeal_id")
        agency = agencies_db.get_agency(conn, appeal["agency_code"])
        assert agency is not None  # an answered appeal has its agency
        today = clock_for(agency.jurisdiction_profile, agency.timezone).local_date(datetime.now(UTC))
        on = pd.check_dispatched_on(dispatched_on, answered_on=appeal["answered_on"], today=today)
        details = pd.details(on, number)
        state = AppealState(appeal["state"])
        row = appeals_db.append_event(conn, appeal_id, _EVENT_ID, pd.DISPATCHED, operator, details, state)
        append_audit(
            conn, appeal_id, operator, pd.DISPATCHED, {"event_id": _EVENT_ID, "seq": row["seq"], **details}
        )
        tell_the_cabinet(conn, appeal_id, row, state, details, {})
    # The tracking number is no personal data, but the address it went to is: neither is logged.
    log.info("answer posted", appeal_id=str(appeal_id), seq=row["seq"], operator=operator)
    return Dispatch(appeal_id, row["seq"], on, number, row["at"])
