"""What an applicant asks through the portal after filing: to withdraw the appeal, or to rate its answer.

The portal authenticated the applicant and relays the request under its own id, so a retry with
the same id is the same request (answered as the first time) and never a second one. The checks
live here once; faces hand over the JSON members as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import MAX_EVENT_ID, MAX_TEXT
from gateway.domain.lifecycle import AppealState

MIN_RATING, MAX_RATING = 1, 5

# Feedback is on an answer on the merits: a declined appeal got none, so there is nothing to rate.
RATEABLE = frozenset({AppealState.ANSWERED, AppealState.CLOSED})


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The applicant withdraws the appeal (59-FZ art. 11 p.7: the agency stops considering it).

    ``reason`` is the applicant's own words, for the agency only.
    """

    withdrawal_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """The applicant's rating of the answer (1 worst … 5 best), with an optional comment."""

    feedback_id: str
    rating: int
    comment: str | None = None


def _request_id(value: Any, name: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not 0 < len(text) <= MAX_EVENT_ID or not text.isprintable():
        raise Rejection(
            Code.INVALID_REQUEST, f"{name} must be 1 to {MAX_EVENT_ID} printable characters", "/" + name
        )
    return text


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejection(Code.INVALID_REQUEST, f"{name} must be a string", "/" + name)
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise Rejection(Code.INVALID_REQUEST, f"{name} is limited to {MAX_TEXT} characters", "/" + name)
    return text or None


def parse_withdrawal(withdrawal_id: Any, reason: Any = None) -> Withdrawal:
    return Withdrawal(_request_id(withdrawal_id, "withdrawal_id"), _optional_text(reason, "reason"))


def parse_feedback(feedback_id: Any, rating: Any, comment: Any = None) -> Feedback:
    # bool is an int in Python: true must not pass as a rating of 1.
    if isinstance(rating, bool) or not isinstance(rating, int) or not MIN_RATING <= rating <= MAX_RATING:
        raise Rejection(
            Code.INVALID_REQUEST,
            f"rating must be a whole number from {MIN_RATING} to {MAX_RATING}",
            "/rating",
        )
    return Feedback(_request_id(feedback_id, "feedback_id"), rating, _optional_text(comment, "comment"))


def check_rateable(state: AppealState | str, answered: bool) -> None:
    """Refuse feedback before the answer, or on an appeal closed without one, naming the state."""
    state = AppealState(state)
    if state not in RATEABLE or not answered:
        raise Rejection(
            Code.NOT_ANSWERED,
            f"feedback rates the agency's answer, and this appeal is {state.value} without one"
            if state is AppealState.CLOSED
            else f"feedback rates the agency's answer, and this appeal is {state.value}",
            "/rating",
        )
