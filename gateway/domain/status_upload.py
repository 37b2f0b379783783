"""Statuses of appeals an agency received through other channels, uploaded so the lookup covers them.

The national portal pushes its appeals through the hub, which sees every stage. Appeals handed in
on paper, sent by post or e-mail, or left on the agency's own website never pass the hub, yet the
applicant should look them up the same way (seeds 002, 004: "status by registration number for
appeals filed any way, so fewer people phone to ask"). So the agency uploads their statuses in
batches from its EDMS: each record names the appeal by the agency's registration number and says
which state it reached when.

Paper statuses are sparse and arrive late and out of order, so a record is held to the lifecycle's
paths (:func:`gateway.domain.lifecycle.reachable`), not to single moves, and a record older than
the appeal's latest status joins the history without moving the state back (FixMyStreet's rule).

Everything a record carries is shown to whoever holds the number and the access code: the
``reason`` in particular must hold no personal data (no names, addresses, phone numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from gateway.domain.deadlines import LegalClock
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import MAX_TEXT, check_registration_number
from gateway.domain.lifecycle import AppealState, Transition, reachable

# How far ahead of the hub's clock a record's ``at`` may be: the agency's clock may run fast.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class Channel(StrEnum):
    """How an appeal reached the agency (вид поступления, as EDMS registration cards record it)."""

    PORTAL = "portal"  # pushed through the hub by the national portal: never uploaded
    POST = "post"  # by post (Почта России)
    IN_PERSON = "in-person"  # handed in at the agency, or at a personal reception
    EMAIL = "e-mail"  # docs/domain.md: registered with channel "e-mail"
    WEBSITE = "website"  # the agency's own internet reception


class Outcome(StrEnum):
    """What one record did."""

    CREATED = "created"  # the first record of a number: the appeal is now known, with an access code
    UPDATED = "updated"  # the appeal moved to the record's state
    REPEATED = "repeated"  # the same number, state and time were stored before: nothing changed
    STALE = "stale"  # older than the appeal's latest status: kept in the history only


S = AppealState
# What an agency reports of an appeal it registered: from registration on. The hub's mailbox
# states (routed, delivered, acknowledged) belong to portal appeals only.
UPLOADABLE_STATES = (
    S.REGISTERED,
    S.IN_PROGRESS,
    S.EXTENDED,
    S.REDIRECTED,
    S.ANSWERED,
    S.DECLINED,
    S.CLOSED,
    S.WITHDRAWN,
)
_UPLOADABLE = {state.value: state for state in UPLOADABLE_STATES}
_OFFLINE_CHANNELS = {channel.value: channel for channel in Channel if channel is not Channel.PORTAL}

# The moves one registration goes through. A redirected appeal is registered anew by the
# competent agency under that agency's own number, so the redirect ends this number's story.
_UNDER_ONE_REGISTRATION = frozenset(Transition) - {
    Transition.ASSIGN,
    Transition.LEASE,
    Transition.ACKNOWLEDGE,
    Transition.REGISTER,
}


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One state an appeal received through another channel reached, at a moment.

    ``answer_by`` is the due date as of this status (an extension moves it); without it a new
    appeal gets the legal clock's date from ``registered_on`` and a known one keeps its own.
    ``reason`` is public (the lookup shows it): why it was extended, redirected or declined.
    """

    registration_number: str
    registered_on: date
    channel: Channel
    state: AppealState
    at: datetime
    answer_by: date | None = None
    reason: str | None = None

    def public_details(self) -> dict[str, str]:
        """What the lookup shows of this status besides its state and time."""
        found = {"answer_by": self.answer_by.isoformat() if self.answer_by else None, "reason": self.reason}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True, slots=True)
class LatestStatus:
    """The appeal's current state and when it reached it."""

    state: AppealState
    at: datetime


def pointer(index: int, field: str | None = None) -> str:
    """Where in the batch a refusal points: ``/records/3/at``, the same on every face."""
    return f"/records/{index}" + (f"/{field}" if field else "")


def parse_records(items: Sequence[Mapping[str, str | None]]) -> list[StatusRecord]:
    """Validated records from a face's fields (text values by name: JSON members, SOAP elements)."""
    return [parse_record(index, fields) for index, fields in enumerate(items)]


def parse_record(index: int, fields: Mapping[str, str | None]) -> StatusRecord:
    """One record; a refusal points at the record and the field (``/records/{index}/{field}``)."""

    def text(name: str) -> str:
        return (fields.get(name) or "").strip()

    def refuse(name: str, detail: str) -> Rejection:
        return Rejection(Code.INVALID_REQUEST, detail, pointer(index, name))

    def day(name: str) -> date:
        try:
            return date.fromisoformat(text(name))
        except ValueError:
            raise refuse(name, f"{name} must be a date (YYYY-MM-DD)") from None

    number = check_registration_number(
        fields.get("registration_number"), pointer(index, "registration_number")
    )
    registered_on = day("registered_on")
    channel = _OFFLINE_CHANNELS.get(text("channel"))
    if channel is None:
        known = ", ".join(_OFFLINE_CHANNELS)
        raise refuse("channel", f"channel must be one of: {known} (the portal's appeals come by themselves)")
    state = _UPLOADABLE.get(text("state"))
    if state is None:
        raise refuse("state", f"state must be one of: {', '.join(_UPLOADABLE)}")
    at = _moment(text("at"))
    if at is None:
        raise refuse("at", "at must be a date and time with its offset from UTC (2026-11-25T10:30:00+03:00)")
    answer_by = day("answer_by") if text("answer_by") else None
    if state is S.EXTENDED and answer_by is None:
        raise refuse("answer_by", "an extended status carries the new answer_by")
    reason = text("reason") or None
    if reason is not None and len(reason) > MAX_TEXT:
        raise refuse("reason", f"reason is limited to {MAX_TEXT} characters")
    return StatusRecord(number, registered_on, channel, state, at, answer_by, reason)


def _moment(lexical: str) -> datetime | None:
    """An ISO 8601 date and time in UTC; None unless it names one moment (it carries its offset)
    that UTC can represent."""
    try:
        at = datetime.fromisoformat(lexical)
        return None if at.utcoffset() is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def check_dates(index: int, record: StatusRecord, clock: LegalClock, now: datetime) -> None:
    """Hold the record's dates to the agency's calendar and the hub's clock.

    Nothing may come from the future beyond a few minutes of skew (for the registration date, by
    the agency's calendar); a status not from before its registration day, a due date not before it.
    """
    latest = now + MAX_CLOCK_SKEW
    if record.registered_on > clock.local_date(latest):
        raise Rejection(
            Code.INVALID_REQUEST, "registered_on is in the future", pointer(index, "registered_on")
        )
    if record.at > latest:
        raise Rejection(Code.INVALID_REQUEST, "at is in the future", pointer(index, "at"))
    if clock.local_date(record.at) < record.registered_on:
        raise Rejection(Code.INVALID_REQUEST, "at is before registered_on", pointer(index, "at"))
    if record.answer_by is not None and record.answer_by < record.registered_on:
        raise Rejection(
            Code.INVALID_REQUEST, "answer_by is before registered_on", pointer(index, "answer_by")
        )


def check_same_appeal(index: int, record: StatusRecord, registered_on: date, channel: Channel) -> None:
    """A number's registration date and channel are the appeal's, fixed by its first record.

    A record disagreeing is more likely a typo in the number than a correction, so it is refused
    rather than applied to whichever appeal the number happens to name.
    """
    if record.registered_on != registered_on:
        raise Rejection(
            Code.INVALID_REQUEST,
            f"the appeal under this number was registered on {registered_on.isoformat()}",
            pointer(index, "registered_on"),
        )
    if record.channel is not channel:
        raise Rejection(
            Code.INVALID_REQUEST,
            f"the appeal under this number came by {channel.value}",
            pointer(index, "channel"),
        )


def judge(index: int, record: StatusRecord, latest: LatestStatus, *, stored: bool) -> Outcome:
    """What a record does to a known appeal (``stored``: its number, state and time are already in).

    A record as new as the latest status or newer must be reachable from the current state;
    an older one is history, whatever it says, and never moves the state back.
    """
    if stored:
        return Outcome.REPEATED
    if record.at < latest.at:
        return Outcome.STALE
    if not reachable(latest.state, record.state, _UNDER_ONE_REGISTRATION):
        raise Rejection(
            Code.ILLEGAL_TRANSITION,
            f"an appeal that is {latest.state.value} cannot become {record.state.value}",
            pointer(index, "state"),
        )
    return Outcome.UPDATED
