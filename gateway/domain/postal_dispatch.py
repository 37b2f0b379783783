"""Answers sent by post (ReplyPreference=post): what an operator records when one is posted.

The tracking number is Почта России's: a domestic item's 14 digits (the sending office's postcode,
the month, the item's number and a check digit) or an international item's 13 characters of UPU
S10 (two letters, eight digits, a check digit, the country's two letters: ``RA123456785RU``).
Only the form is checked, not the check digit: the clerk copies it off the receipt, the applicant
types it into the post's own tracking, and a number refused here would keep a posted answer on the
list while the clerk argues with a form; a mistyped form (a digit short, a letter for a digit) is
what the check catches. Spaces and dashes a receipt groups the digits with are dropped.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from gateway.domain.errors import Code, Rejection

# The event type of a posted answer: an event of its own, so the cabinet's updates and the lookup
# show it like any other (contract 2 shows types it does not know generically).
DISPATCHED = "dispatched"
REPLY_BY_POST = "post"

_DOMESTIC = re.compile(r"[0-9]{14}")
_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_GROUPING = re.compile(r"[\s-]+")


def check_tracking_number(value: str | None) -> str:
    """The number as the post prints it: 14 digits, or S10's 13 characters, upper case."""
    number = _GROUPING.sub("", value or "").upper()
    if not (_DOMESTIC.fullmatch(number) or _S10.fullmatch(number)):
        raise Rejection(
            Code.INVALID_REQUEST,
            "tracking_number must be Почта России's 14 digits or an S10 number (e.g. RA123456785RU)",
            "/tracking_number",
        )
    return number


def check_dispatched_on(value: str | None, *, answered_on: date, today: date) -> date:
    """A date from the answer's own date to tomorrow (a day of slack for time zones, as elsewhere)."""
    pointer = "/dispatched_on"
    try:
        dispatched_on = date.fromisoformat((value or "").strip())
    except ValueError:
        raise Rejection(Code.INVALID_REQUEST, "dispatched_on must be a date (YYYY-MM-DD)", pointer) from None
    if dispatched_on > today + timedelta(days=1):
        raise Rejection(Code.INVALID_REQUEST, "dispatched_on is in the future", pointer)
    if dispatched_on < answered_on:
        raise Rejection(Code.INVALID_REQUEST, "dispatched_on is before the answer's date", pointer)
    return dispatched_on


def details(dispatched_on: date, tracking_number: str) -> dict[str, Any]:
    """The dispatched event's details: public facts both (the applicant tracks the letter)."""
    return {"dispatched_on": dispatched_on.isoformat(), "tracking_number": tracking_number}
