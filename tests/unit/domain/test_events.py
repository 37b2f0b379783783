"""Agency events are validated once, in the domain, whatever face they came through."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import (
    Assigned,
    Closed,
    Declined,
    DeclineGround,
    Extended,
    Redirected,
    Registered,
    check_dates,
    details,
    parse_event,
)

TODAY = date(2026, 11, 25)
NUMBER = "/registration_number"


def _reg(number: str, on: str = "2026-11-25") -> dict[str, str]:
    return {"registration_number": number, "registered_on": on}


@pytest.mark.parametrize(
    ("type_", "fields", "expected"),
    [
        ("registered", {"registration_number": " ОГ-2026/15 ", "registered_on": "2026-11-25"},
         Registered("e", "ОГ-2026/15", TODAY)),
        ("assigned", {"executor": "отдел ЖКХ"}, Assigned("e", "отдел ЖКХ")),
        ("extended", {"new_due_date": "2027-01-20", "reason": "проверка"},
         Extended("e", date(2027, 1, 20), "проверка")),
        ("redirected", {"target_agency": "MINSTROY-21", "reason": "не наш"},
         Redirected("e", "MINSTROY-21", "не наш")),
        ("declined", {"ground": "repeated"}, Declined("e", DeclineGround.REPEATED)),
        ("closed", {}, Closed("e")),
    ],
)  # fmt: skip
def test_each_event_type_parses(type_, fields, expected):
    assert parse_event(" e ", type_, fields) == expected


def test_details_are_json_ready_and_leave_out_the_event_id_and_empty_fields():
    assert details(Registered("e", "ОГ-1", TODAY)) == {
        "registration_number": "ОГ-1",
        "registered_on": "2026-11-25",
    }
    assert details(Declined("e", DeclineGround.ANONYMOUS)) == {"ground": "anonymous"}


@pytest.mark.parametrize(
    ("event_id", "type_", "fields", "pointer"),
    [
        ("", "closed", {}, "/event_id"),
        ("x" * 101, "closed", {}, "/event_id"),
        ("e", "teleported", {}, "/type"),
        ("e", None, {}, "/type"),
        ("e", "registered", _reg(" "), NUMBER),
        ("e", "registered", _reg("1\n2"), NUMBER),
        ("e", "registered", _reg("9" * 65), NUMBER),
        ("e", "registered", _reg("1", "25.11.2026"), "/registered_on"),
        ("e", "extended", {"new_due_date": "2027-01-20"}, "/reason"),
        ("e", "redirected", {"reason": "x"}, "/target_agency"),
        ("e", "declined", {"ground": "boredom"}, "/ground"),
        ("e", "assigned", {"executor": "x" * 201}, "/executor"),
    ],
)  # fmt: skip
def test_bad_events_name_the_field_at_fault(event_id, type_, fields, pointer):
    with pytest.raises(Rejection) as refused:
        parse_event(event_id, type_, fields)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


def test_a_registration_may_be_dated_tomorrow_for_zone_slack_but_not_later():
    check_dates(parse_event("e", "registered", _reg("1", "2026-11-26")), TODAY)
    check_dates(Closed("e"), TODAY)
    with pytest.raises(Rejection) as refused:
        check_dates(parse_event("e", "registered", _reg("1", "2026-11-27")), TODAY)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, "/registered_on")
