"""The legal clock on real calendars: holidays, transferred days off, time zones, one extension."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import JurisdictionProfile

RU = clock_for(JurisdictionProfile.RU_59FZ, "Europe/Moscow")
BY = clock_for(JurisdictionProfile.BY_300Z, "Europe/Minsk")


def test_receipt_is_dated_in_the_agencys_time_zone():
    late_evening_utc = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    assert RU.local_date(late_evening_utc) == date(2026, 11, 25)
    assert BY.local_date(late_evening_utc) == date(2026, 11, 25)
    assert clock_for(JurisdictionProfile.RU_59FZ, "Europe/Kaliningrad").local_date(late_evening_utc) == date(
        2026, 11, 25
    )
    assert clock_for(JurisdictionProfile.RU_59FZ, "Europe/London").local_date(late_evening_utc) == date(
        2026, 11, 24
    )


def test_russian_registration_over_the_new_year_holidays_moves_to_the_next_working_day():
    received = datetime(2026, 12, 30, 21, 30, tzinfo=UTC)  # 31 December in Moscow
    # 31 Dec + 3 days = 3 January: 1–8 January are holidays, 9–10 a weekend.
    assert RU.register_by(received) == date(2027, 1, 11)


@pytest.mark.parametrize(
    ("registered_on", "answer_by"),
    [
        (date(2026, 11, 2), date(2026, 12, 2)),  # 30 days, a Wednesday
        (date(2026, 10, 5), date(2026, 11, 5)),  # day 30 is 4 November, Unity Day
        (date(2026, 10, 15), date(2026, 11, 16)),  # day 30 is a Saturday
    ],
)
def test_russian_answer_is_due_thirty_days_after_registration(registered_on, answer_by):
    assert RU.answer_by(registered_on) == answer_by


def test_russian_redirect_within_seven_days():
    assert RU.redirect_by(date(2026, 11, 25)) == date(2026, 12, 2)


def test_belarusian_redirect_counts_five_working_days_over_a_holiday_weekend():
    # 7 November (October Revolution Day) is a Saturday: Thu 5, Fri 6, Mon 9, Tue 10, Wed 11.
    assert BY.redirect_by(date(2026, 11, 4)) == date(2026, 11, 11)


def test_a_transferred_saturday_is_a_working_day_in_belarus():
    assert BY.is_working_day(date(2026, 4, 25))
    assert not BY.is_working_day(date(2026, 4, 20))


def test_belarusian_answer_in_fifteen_days_or_a_month_of_further_study():
    assert BY.answer_by(date(2026, 12, 10)) == date(2026, 12, 28)  # 25 December is a holiday (Friday)
    # One month from 31 January is 28 February 2027, a Sunday.
    assert BY.answer_by(date(2027, 1, 31), further_study=True) == date(2027, 3, 1)


def test_one_russian_extension_of_at_most_thirty_days():
    current, registered = date(2026, 12, 2), date(2026, 11, 2)
    assert RU.extended_answer_by(current, date(2026, 12, 20), registered, 0) == date(2026, 12, 21)
    # current + 30 days is 1 January, a holiday: the limit moves to 11 January with it.
    assert RU.extended_answer_by(current, date(2027, 1, 11), registered, 0) == date(2027, 1, 11)
    for new_due, pointer in ((date(2027, 1, 12), "/new_due_date"), (current, "/new_due_date")):
        with pytest.raises(Rejection) as refused:
            RU.extended_answer_by(current, new_due, registered, 0)
        assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)
    with pytest.raises(Rejection) as second:
        RU.extended_answer_by(current, date(2026, 12, 20), registered, 1)
    assert second.value.code is Code.ILLEGAL_TRANSITION


def test_belarusian_extension_stops_a_month_after_registration():
    registered = date(2026, 11, 2)
    current = BY.answer_by(registered)
    assert BY.extended_answer_by(current, date(2026, 12, 2), registered, 0) == date(2026, 12, 2)
    with pytest.raises(Rejection) as refused:
        BY.extended_answer_by(current, date(2026, 12, 3), registered, 0)
    assert refused.value.pointer == "/new_due_date"
