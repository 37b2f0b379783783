"""Uploaded statuses of appeals received through other channels: checked once, in the domain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState
from gateway.domain.status_upload import (
    MAX_CLOCK_SKEW,
    Channel,
    LatestStatus,
    Outcome,
    StatusRecord,
    check_dates,
    check_same_appeal,
    judge,
    parse_record,
    parse_records,
)

S = AppealState
MOSCOW = clock_for("RU-59FZ", "Europe/Moscow")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
FIELDS = {
    "registration_number": " П-2026/77 ",
    "registered_on": "2026-11-20",
    "channel": "post",
    "state": "registered",
    "at": "2026-11-20T10:30:00+03:00",
}
RECORD = StatusRecord(
    "П-2026/77", date(2026, 11, 20), Channel.POST, S.REGISTERED, datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
)


def _refused(index: int, fields: dict[str, str | None]) -> Rejection:
    with pytest.raises(Rejection) as refused:
        parse_record(index, fields)
    return refused.value


def test_a_record_parses_with_its_moment_in_utc():
    record = parse_record(0, {**FIELDS, "answer_by": "2026-12-21", "reason": " требуется проверка "})
    assert record == replace(RECORD, answer_by=date(2026, 12, 21), reason="требуется проверка")
    assert record.at.utcoffset() == timedelta(0)


def test_answer_by_and_reason_are_optional_and_blank_means_absent():
    assert parse_record(0, {**FIELDS, "answer_by": " ", "reason": ""}) == RECORD
    assert RECORD.public_details() == {}
    assert replace(RECORD, answer_by=date(2026, 12, 21), reason="проверка").public_details() == {
        "answer_by": "2026-12-21",
        "reason": "проверка",
    }


@pytest.mark.parametrize("channel", ["post", "in-person", "e-mail", "website"])
def test_every_channel_but_the_portal_is_uploaded(channel):
    assert parse_record(0, {**FIELDS, "channel": channel}).channel.value == channel


@pytest.mark.parametrize(
    "state",
    ["registered", "in-progress", "extended", "redirected", "answered", "declined", "closed", "withdrawn"],
)
def test_every_state_from_registration_on_is_uploaded(state):
    assert parse_record(0, {**FIELDS, "state": state, "answer_by": "2026-12-30"}).state.value == state


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("registration_number", None),
        ("registration_number", "  "),
        ("registration_number", "Н" * 65),
        ("registration_number", "П-1\n2"),
        ("registered_on", "20.11.2026"),
        ("registered_on", None),
        ("channel", "portal"),  # the portal's appeals reach the hub by themselves
        ("channel", "paper"),
        ("channel", None),
        ("state", "received"),  # mailbox states are the hub's, not an agency's
        ("state", "acknowledged"),
        ("state", "lost"),
        ("at", "yesterday"),
        ("at", "2026-11-20T10:30:00"),  # no offset: which moment?
        ("at", "2026-11-20"),
        ("at", "0001-01-01T00:00:00+03:00"),  # before the representable UTC range
        ("answer_by", "2026-13-01"),
        ("reason", "ж" * 2001),
    ],
)
def test_a_bad_field_is_refused_pointing_at_the_record_and_the_field(field, value):
    refused = _refused(3, {**FIELDS, field: value})
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, f"/records/3/{field}")


def test_an_extension_carries_its_new_due_date():
    refused = _refused(1, {**FIELDS, "state": "extended"})
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/records/1/answer_by")
    assert parse_record(1, {**FIELDS, "state": "extended", "answer_by": "2027-01-19"}).answer_by == date(
        2027, 1, 19
    )


def test_records_are_numbered_by_their_place_in_the_batch():
    with pytest.raises(Rejection) as refused:
        parse_records([FIELDS, FIELDS, {**FIELDS, "state": "lost"}])
    assert refused.value.pointer == "/records/2/state"
    assert parse_records([FIELDS, FIELDS]) == [RECORD, RECORD]


# --- dates against the agency's clock and the hub's --------------------------------------------


def _dates_refused(record: StatusRecord) -> str | None:
    with pytest.raises(Rejection) as refused:
        check_dates(4, record, MOSCOW, NOW)
    assert refused.value.code is Code.INVALID_REQUEST
    return refused.value.pointer


def test_dates_in_order_pass():
    check_dates(0, RECORD, MOSCOW, NOW)
    check_dates(0, replace(RECORD, at=NOW + MAX_CLOCK_SKEW, answer_by=date(2026, 11, 20)), MOSCOW, NOW)
    # the agency's clock may run a little fast: its new day may begin before the hub's
    midnight = datetime(2026, 11, 25, 20, 58, tzinfo=UTC)  # 23:58 in Moscow
    today = replace(RECORD, registered_on=date(2026, 11, 26), at=midnight + timedelta(minutes=3))
    check_dates(0, today, MOSCOW, midnight)


def test_a_registration_on_a_day_the_agency_has_not_reached_is_refused():
    assert _dates_refused(replace(RECORD, registered_on=date(2026, 11, 26))) == "/records/4/registered_on"


def test_a_status_from_the_future_beyond_clock_skew_is_refused():
    late = replace(RECORD, at=NOW + MAX_CLOCK_SKEW + timedelta(seconds=1))
    assert _dates_refused(late) == "/records/4/at"


def test_a_status_before_the_registration_day_in_the_agencys_zone_is_refused():
    # 22:30 UTC on the 19th is already the 20th in Moscow: the registration day itself
    check_dates(0, replace(RECORD, at=datetime(2026, 11, 19, 22, 30, tzinfo=UTC)), MOSCOW, NOW)
    before = replace(RECORD, at=datetime(2026, 11, 19, 23, 30, tzinfo=timezone(timedelta(hours=3))))
    assert _dates_refused(before) == "/records/4/at"


def test_a_due_date_before_the_registration_is_refused():
    assert _dates_refused(replace(RECORD, answer_by=date(2026, 11, 19))) == "/records/4/answer_by"


# --- one number, one appeal ------------------------------------------------------------------


def test_a_number_keeps_its_registration_date_and_channel():
    check_same_appeal(0, RECORD, date(2026, 11, 20), Channel.POST)
    with pytest.raises(Rejection) as refused:
        check_same_appeal(2, RECORD, date(2026, 11, 19), Channel.POST)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, "/records/2/registered_on")
    with pytest.raises(Rejection) as refused:
        check_same_appeal(2, RECORD, date(2026, 11, 20), Channel.EMAIL)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, "/records/2/channel")


# --- what a record does to a known appeal ------------------------------------------------------

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("latest", "state", "at", "outcome"),
    [
        (S.REGISTERED, S.ANSWERED, T0 + timedelta(days=9), Outcome.UPDATED),  # sparse
        (S.IN_PROGRESS, S.IN_PROGRESS, T0 + timedelta(days=1), Outcome.UPDATED),
        (S.REGISTERED, S.IN_PROGRESS, T0, Outcome.UPDATED),  # the same moment, a later state
        (S.ANSWERED, S.CLOSED, T0 + timedelta(hours=1), Outcome.UPDATED),
        (S.ANSWERED, S.IN_PROGRESS, T0 - timedelta(days=2), Outcome.STALE),  # late paper: history only
        (S.CLOSED, S.REGISTERED, T0 - timedelta(days=9), Outcome.STALE),
    ],
)
def test_a_record_updates_a_known_appeal_or_joins_its_history(latest, state, at, outcome):
    record = replace(RECORD, state=state, at=at)
    assert judge(0, record, LatestStatus(latest, T0), stored=False) is outcome


def test_a_stored_record_is_repeated_whatever_its_place():
    for at in (T0 - timedelta(days=1), T0, T0 + timedelta(days=1)):
        record = replace(RECORD, state=S.ANSWERED, at=at)
        assert judge(0, record, LatestStatus(S.CLOSED, T0), stored=True) is Outcome.REPEATED


@pytest.mark.parametrize(
    ("latest", "state"),
    [
        (S.CLOSED, S.IN_PROGRESS),  # the state never moves back
        (S.ANSWERED, S.ANSWERED),
        (S.DECLINED, S.ANSWERED),
        (S.REGISTERED, S.REGISTERED),  # registered once per number
        (S.REDIRECTED, S.REGISTERED),  # the competent agency registers it under its own number
        (S.REDIRECTED, S.ANSWERED),
        (S.WITHDRAWN, S.ANSWERED),
    ],
)
def test_a_state_that_cannot_follow_the_current_one_is_refused_naming_it(latest, state):
    record = replace(RECORD, state=state, at=T0 + timedelta(days=1))
    with pytest.raises(Rejection) as refused:
        judge(5, record, LatestStatus(latest, T0), stored=False)
    assert refused.value.code is Code.ILLEGAL_TRANSITION
    assert refused.value.pointer == "/records/5/state"
    assert f"is {latest.value}" in refused.value.detail
