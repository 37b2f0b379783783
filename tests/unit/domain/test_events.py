"""Agency events are validated once, in the domain, whatever face they came through."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from datetime import date
from typing import BinaryIO
from uuid import UUID

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import (
    Answered,
    Assigned,
    Closed,
    Declined,
    DeclineGround,
    Extended,
    Redirected,
    Registered,
    ResultCategory,
    check_answer,
    check_dates,
    details,
    parse_event,
)
from gateway.domain.model import AnswerDocument, Signatory

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
        ("closed", {"result": " explained "}, Closed("e", ResultCategory.EXPLAINED)),
        ("closed", {"result": ""}, Closed("e")),
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
    assert details(Closed("e", ResultCategory.NOT_SUPPORTED)) == {"result": "not-supported"}


def test_the_result_category_rides_on_an_answer_and_is_optional_for_old_clients():
    with_result = parse_event("e", "answered", {"result": "supported-measures-taken"}, answer=SIGNED)
    assert with_result.result is ResultCategory.SUPPORTED_MEASURES_TAKEN
    assert details(with_result)["result"] == "supported-measures-taken"
    old_client = parse_event("e", "answered", {}, answer=SIGNED)
    assert old_client.result is None and "result" not in details(old_client)
    with pytest.raises(Rejection) as refused:
        parse_event("e", "answered", {"result": "great"}, answer=SIGNED)
    assert refused.value.pointer == "/result"


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
        ("e", "closed", {"result": "resolved-somehow"}, "/result"),
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


# --- answered ---------------------------------------------------------------------------------

SIGNED = b"<Answer>signed bytes, verified later by the service layer</Answer>"
APPEAL = UUID("9a6c2f4e-1b7d-4e3a-8c05-2f6d8e1a4b97")
ANSWER = AnswerDocument(
    answer_id=UUID("3b0e8c52-6f1d-4c8a-9e27-5d4a1f0b7c13"),
    appeal_id=APPEAL,
    agency_code="ADM-CHEBOKSARY",
    registration_number="ОГ-1",
    answered_on=TODAY,
    signatory=Signatory("Иванов И. И.", "начальник управления"),
    text="ответ по существу",
)


@dataclass(frozen=True)
class _Part:
    content_id: str
    file: BinaryIO
    size: int
    sha256: str


def test_an_answered_event_carries_the_signed_bytes_and_the_parts_untouched():
    part = _Part("act-1", io.BytesIO(b"%PDF"), 4, hashlib.sha256(b"%PDF").hexdigest())
    event = parse_event(" e ", "answered", {}, answer=SIGNED, parts={"act-1": part})
    assert event == Answered("e", SIGNED, {"act-1": part})
    assert SIGNED not in repr(event).encode()  # the answer's content never reaches a log line


def test_an_answered_event_is_named_by_its_digest_only():
    assert details(Answered("e", SIGNED)) == {"answer_sha256": hashlib.sha256(SIGNED).hexdigest()}


@pytest.mark.parametrize(
    ("type_", "fields", "answer", "pointer"),
    [
        ("answered", {}, None, "/answer"),
        ("answered", {}, b"", "/answer"),
        ("answered", {"registration_number": "1"}, None, "/answer"),  # JSON fields cannot stand in
        ("registered", _reg("1"), SIGNED, "/type"),
        ("closed", {}, SIGNED, "/type"),
    ],
)
def test_a_signed_answer_belongs_to_an_answered_event_only(type_, fields, answer, pointer):
    with pytest.raises(Rejection) as refused:
        parse_event("e", type_, fields, answer=answer)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


def _check(document: AnswerDocument, *, registered_on: date | None = TODAY) -> None:
    check_answer(
        document,
        agency_code="ADM-CHEBOKSARY",
        appeal_id=APPEAL,
        registration_number="ОГ-1",
        registered_on=registered_on,
        today=TODAY,
    )


def test_an_answer_to_this_appeal_by_this_agency_under_its_number_passes():
    _check(ANSWER)
    _check(replace(ANSWER, answered_on=date(2026, 11, 26)))  # the agency's tomorrow: zone slack


@pytest.mark.parametrize(
    ("change", "code", "pointer"),
    [
        ({"agency_code": "MINSTROY-21"}, Code.ANSWER_MISMATCH, "/answer/Document/AgencyCode"),
        ({"appeal_id": UUID(int=1)}, Code.ANSWER_MISMATCH, "/answer/Document/AppealId"),
        ({"registration_number": "ОГ-2"}, Code.ANSWER_MISMATCH, "/answer/Document/RegistrationNumber"),
        ({"answered_on": date(2026, 11, 27)}, Code.INVALID_REQUEST, "/answer/Document/AnsweredOn"),
        ({"answered_on": date(2026, 11, 24)}, Code.INVALID_REQUEST, "/answer/Document/AnsweredOn"),
    ],
)
def test_an_answer_signed_for_something_else_is_refused_naming_the_signed_element(change, code, pointer):
    with pytest.raises(Rejection) as refused:
        _check(replace(ANSWER, **change))
    assert (refused.value.code, refused.value.pointer) == (code, pointer)


def test_an_appeal_not_registered_has_no_number_an_answer_could_match():
    with pytest.raises(Rejection) as refused:
        check_answer(
            ANSWER,
            agency_code="ADM-CHEBOKSARY",
            appeal_id=APPEAL,
            registration_number=None,
            registered_on=None,
            today=TODAY,
        )
    assert refused.value.pointer == "/answer/Document/RegistrationNumber"
