"""Events an agency reports about its appeals (registered, and more as the return path grows).

Each event carries the agency's own ``event_id``: repeating an event with the same id is a
no-op that answers as the first time did, so an EDMS may retry without fear of doubling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from gateway.domain.errors import Code, Rejection

MAX_EVENT_ID = 100
MAX_REGISTRATION_NUMBER = 64


class EventType(StrEnum):
    REGISTERED = "registered"


@dataclass(frozen=True, slots=True)
class Registered:
    """The agency registered the appeal under its own number on its own date."""

    event_id: str
    registration_number: str
    registered_on: date

    type = EventType.REGISTERED

    def details(self) -> dict[str, Any]:
        return {
            "registration_number": self.registration_number,
            "registered_on": self.registered_on.isoformat(),
        }


AgencyEvent = Registered


def check_event_id(event_id: str) -> str:
    event_id = event_id.strip()
    if not 0 < len(event_id) <= MAX_EVENT_ID:
        raise Rejection(Code.INVALID_REQUEST, f"event_id must be 1 to {MAX_EVENT_ID} characters", "/event_id")
    return event_id


def registered(event_id: str, number: str, registered_on: date, today: date) -> Registered:
    """A validated ``registered`` event; a date after tomorrow is refused (one day of zone slack)."""
    number = number.strip()
    if not 0 < len(number) <= MAX_REGISTRATION_NUMBER or not number.isprintable():
        raise Rejection(
            Code.INVALID_REQUEST,
            f"registration_number must be 1 to {MAX_REGISTRATION_NUMBER} printable characters",
            "/registration_number",
        )
    if registered_on > today + timedelta(days=1):
        raise Rejection(Code.INVALID_REQUEST, "registered_on is in the future", "/registered_on")
    return Registered(check_event_id(event_id), number, registered_on)
