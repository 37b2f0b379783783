"""Agency events are validated before they touch an appeal."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import EventType, registered

TODAY = date(2026, 11, 25)


def test_a_registered_event_carries_number_and_date():
    event = registered(" evt-1 ", " ОГ-2026/15 ", TODAY, TODAY)
    assert (event.event_id, event.registration_number, event.type) == (
        "evt-1",
        "ОГ-2026/15",
        EventType.REGISTERED,
    )
    assert event.details() == {"registration_number": "ОГ-2026/15", "registered_on": "2026-11-25"}


@pytest.mark.parametrize(
    ("event_id", "number", "on", "pointer"),
    [
        ("", "1", TODAY, "/event_id"),
        ("x" * 101, "1", TODAY, "/event_id"),
        ("e", " ", TODAY, "/registration_number"),
        ("e", "1\n2", TODAY, "/registration_number"),
        ("e", "9" * 65, TODAY, "/registration_number"),
        ("e", "1", date(2026, 11, 27), "/registered_on"),
    ],
)
def test_bad_registered_events(event_id, number, on, pointer):
    with pytest.raises(Rejection) as refused:
        registered(event_id, number, on, TODAY)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


def test_tomorrow_is_allowed_for_zone_slack():
    assert registered("e", "1", date(2026, 11, 26), TODAY).registered_on == date(2026, 11, 26)
