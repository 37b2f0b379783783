"""Applicants' requests relayed by the portal: withdraw an appeal, rate its answer.

Only the portal that sent the appeal may relay them (another portal's appeal is "not found", as a
missing one is). Each runs under the appeal's row lock in one transaction with its audit record
and its notice in the agency's mailbox; a withdrawal also moves the appeal and updates the
cabinet, as an agency's event does. The applicant's own words go to the agency only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from psycopg import Connection

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import feedback as feedback_db
from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.domain.applicant_requests import MAX_RATING, MIN_RATING, Feedback, Withdrawal, check_rateable
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import Transition, advance
from gateway.service.cabinet_updates import tell_the_cabinet
from gateway.service.hub import Hub
from gateway.service.mailbox import FEEDBACK_NOTICE, WITHDRAWAL_NOTICE
from gateway.service.notifications import tell_the_applicant

log = structlog.get_logger(__name__)

WITHDRAWN_EVENT = "withdrawn"
# The withdrawal's event id, apart from the ids agencies give their own events on the appeal.
_EVENT_ID_PREFIX = "withdrawal:"


@dataclass(frozen=True, slots=True)
class RequestReceipt:
    appeal_id: UUID
    request_id: str
    state: str
    at: datetime
    repeated: bool = False


def _actor(sender_id: str) -> str:
    return "portal:" + sender_id


def _appeal(conn: Connection, sender_id: str, appeal_id: UUID) -> dict[str, Any]:
    appeal = appeals_db.find_for_sender(conn, appeal_id, sender_id, lock=True)
    if appeal is None:
        raise Rejection(Code.NOT_FOUND, "no such appeal from this portal", "/appeal_id")
    return appeal


def withdraw(hub: Hub, sender_id: str, appeal_id: UUID, withdrawal: Withdrawal) -> RequestReceipt:
    """Withdraw the appeal: its agency (if it has one yet) gets a notice, the cabinet an update.

    A withdrawal is final: the agency's later events on the appeal are refused as illegal
    transitions, and an appeal not yet routed leaves the manual-routing queue.
    """
    actor = _actor(sender_id)
    event_id = _EVENT_ID_PREFIX + withdrawal.withdrawal_id
    with hub.pool.connection() as conn, conn.transaction():
        appeal = _appeal(conn, sender_id, appeal_id)
        earlier = appeals_db.find_event(conn, appeal_id, event_id)
        if earlier is not None:
            # The reason went to the agency alone: a retry is known by its id.
            if earlier["type"] != WITHDRAWN_EVENT:
                raise Rejection(
                    Code.REQUEST_ID_REUSED, "this withdrawal id was used for another event", "/withdrawal_id"
                )
            return RequestReceipt(appeal_id, withdrawal.withdrawal_id, appeal["state"], earlier["at"], True)
        state = advance(appeal["state"], Transition.WITHDRAW)
        appeals_db.update(conn, appeal_id, state=state)
        row = appeals_db.append_event(conn, appeal_id, event_id, WITHDRAWN_EVENT, actor, {}, state)
        audit: dict[str, Any] = {"event_id": event_id, "seq": row["seq"]}
        if appeal["agency_code"] is not None:
            notice = {"seq": row["seq"], "withdrawn_at": row["at"].isoformat(), "reason": withdrawal.reason}
            message_id = mailbox_db.post(conn, appeal["agency_code"], appeal_id, WITHDRAWAL_NOTICE, notice)
            audit.update(agency=appeal["agency_code"], mailbox_message=str(message_id))
        append_audit(conn, appeal_id, actor, WITHDRAWN_EVENT, audit)
        tell_the_cabinet(conn, appeal_id, row, state, {}, {})
        tell_the_applicant(conn, hub.settings, appeal_id, row, state, {}, {})  # no channel notifies it today
    # The applicant's reason is for the agency alone: never in a log line.
    log.info("appeal withdrawn", appeal_id=str(appeal_id), sender=sender_id, seq=row["seq"])
    return RequestReceipt(appeal_id, withdrawal.withdrawal_id, state.value, row["at"])


def give_feedback(hub: Hub, sender_id: str, appeal_id: UUID, feedback: Feedback) -> RequestReceipt:
    """Store the applicant's rating of the answer (once per appeal) and tell the agency that gave it."""
    actor = _actor(sender_id)
    with hub.pool.connection() as conn, conn.transaction():
        appeal = _appeal(conn, sender_id, appeal_id)
        stored = feedback_db.find(conn, appeal_id)
        if stored is not None:
            if stored["feedback_id"] != feedback.feedback_id:
                raise Rejection(
                    Code.FEEDBACK_ALREADY_GIVEN, "the applicant has already rated this answer", "/feedback_id"
                )
            if (stored["rating"], stored["comment"]) != (feedback.rating, feedback.comment):
                raise Rejection(
                    Code.REQUEST_ID_REUSED, "this feedback id was used with other content", "/feedback_id"
                )
            return RequestReceipt(
                appeal_id, feedback.feedback_id, appeal["state"], stored["received_at"], True
            )
        check_rateable(appeal["state"], appeal["answered"])
        row = feedback_db.insert(
            conn,
            appeal_id=appeal_id,
            feedback_id=feedback.feedback_id,
            agency_code=appeal["agency_code"],
            rating=feedback.rating,
            comment=feedback.comment,
            sender_id=sender_id,
        )
        notice = {
            "rating": feedback.rating,
            "comment": feedback.comment,
            "given_at": row["received_at"].isoformat(),
        }
        message_id = mailbox_db.post(conn, appeal["agency_code"], appeal_id, FEEDBACK_NOTICE, notice)
        details = {
            "feedback_id": feedback.feedback_id,
            "rating": feedback.rating,
            "agency": appeal["agency_code"],
            "mailbox_message": str(message_id),
        }
        append_audit(conn, appeal_id, actor, "feedback-given", details)
    # Neither the comment (the applicant's words) nor the rating: the appeal is named, that is all.
    log.info("feedback given", appeal_id=str(appeal_id), sender=sender_id, agency=appeal["agency_code"])
    return RequestReceipt(appeal_id, feedback.feedback_id, appeal["state"], row["received_at"])


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """How applicants rated one agency's answers: ``by_rating`` counts each rating, "1" to "5"."""

    agency_code: str
    count: int
    mean: float | None
    by_rating: dict[str, int]


def _summary(row: dict[str, Any]) -> FeedbackSummary:
    by_rating = {str(n): row[f"r{n}"] for n in range(MIN_RATING, MAX_RATING + 1)}
    return FeedbackSummary(row["agency_code"], row["count"], row["mean"], by_rating)


def feedback_summary(hub: Hub) -> list[FeedbackSummary]:
    """Every agency that has feedback, by agency code (for operators and analytics)."""
    return [_summary(row) for row in db_read(hub.pool, feedback_db.summary)]


def agency_feedback(hub: Hub, agency_code: str) -> FeedbackSummary:
    """One agency's feedback (an agency sees only its own), zero counts when it has none yet."""
    rows = db_read(hub.pool, lambda conn: feedback_db.summary(conn, agency_code))
    if rows:
        return _summary(rows[0])
    return FeedbackSummary(agency_code, 0, None, {str(n): 0 for n in range(MIN_RATING, MAX_RATING + 1)})
