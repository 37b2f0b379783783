"""The legal clock on real calendars: holidays, transferred days off, time zones, one extension.

The dates below are checked against the calendars of ``holidays`` 0.109; a later release that
learns of a new transfer for 2026–2027 would show up here first, which is the point.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfoNotFoundError

import pytest

from gateway.domain.deadlines import LegalClock, clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import JurisdictionProfile

RU = clock_for(JurisdictionProfile.RU_59FZ, "Europe/Moscow")
BY = clock_for(JurisdictionProfile.BY_300Z, "Europe/Minsk")


def refusal(call, *args) -> Rejection:
    with pytest.raises(Rejection) as refused:
        call(*args)
    return refused.value


# --- time zones -------------------------------------------------------------------------------


def test_receipt_is_dated_in_the_agencys_time_zone():
    late_evening_utc = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    assert RU.local_date(late_evening_utc) == date(2026, 11, 25)
    assert BY.local_date(late_evening_utc) == date(2026, 11, 25)
    kaliningrad = clock_for(JurisdictionProfile.RU_59FZ, "Europe/Kaliningrad")  # UTC+2
    assert kaliningrad.local_date(late_evening_utc) == date(2026, 11, 25)
    assert kaliningrad.local_date(late_evening_utc - timedelta(minutes=31)) == date(2026, 11, 24)
    vladivostok = clock_for(JurisdictionProfile.RU_59FZ, "Asia/Vladivostok")  # UTC+10
    assert vladivostok.local_date(datetime(2026, 11, 24, 14, 0, tzinfo=UTC)) == date(2026, 11, 25)


def test_an_instant_in_another_offset_is_the_same_instant():
    minsk_midnight = datetime(2026, 11, 6, 0, 30, tzinfo=timezone(timedelta(hours=3)))
    assert BY.local_date(minsk_midnight) == date(2026, 11, 6)
    assert BY.local_date(minsk_midnight.astimezone(UTC)) == date(2026, 11, 6)


def test_a_naive_datetime_is_refused_rather_than_read_in_the_servers_zone():
    with pytest.raises(ValueError, match="aware"):
        RU.local_date(datetime(2026, 11, 24, 22, 30))
    with pytest.raises(ValueError, match="aware"):
        BY.register_by(datetime(2026, 11, 24, 22, 30))


def test_belarusian_registration_clock_starts_on_the_minsk_date():
    # 20:30 UTC is Thursday 23:30 in Minsk: Fri 6, Mon 9, Tue 10 November.
    assert BY.register_by(datetime(2026, 11, 5, 20, 30, tzinfo=UTC)) == date(2026, 11, 10)
    # 21:30 UTC is already Friday 00:30 in Minsk: Mon 9, Tue 10, Wed 11 November.
    assert BY.register_by(datetime(2026, 11, 5, 21, 30, tzinfo=UTC)) == date(2026, 11, 11)


# --- Russia, 59-FZ ----------------------------------------------------------------------------


def test_russian_registration_within_three_calendar_days():
    assert RU.register_by(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)) == date(2026, 11, 27)  # a Friday


def test_russian_registration_over_the_new_year_holidays_moves_to_the_next_working_day():
    received = datetime(2026, 12, 30, 23, 30, tzinfo=UTC)  # 31 December, 02:30 in Moscow
    # 31 Dec + 3 days = 3 January: 1–8 January are holidays, 9–10 a weekend.
    assert [RU.is_working_day(date(2027, 1, d)) for d in range(1, 12)] == [False] * 10 + [True]
    assert RU.register_by(received) == date(2027, 1, 11)


@pytest.mark.parametrize(
    ("registered_on", "answer_by"),
    [
        (date(2026, 11, 2), date(2026, 12, 2)),  # 30 days, a Wednesday
        (date(2026, 10, 5), date(2026, 11, 5)),  # day 30 is 4 November, Unity Day
        (date(2026, 10, 15), date(2026, 11, 16)),  # day 30 is a Saturday
        (date(2026, 12, 2), date(2027, 1, 11)),  # day 30 is 1 January
        (date(2027, 1, 21), date(2027, 2, 20)),  # day 30 is a Saturday decreed a working day
    ],
)
def test_russian_answer_is_due_thirty_days_after_registration(registered_on, answer_by):
    assert RU.answer_by(registered_on) == answer_by


def test_further_study_does_not_lengthen_the_russian_answer():
    assert RU.answer_by(date(2026, 11, 2), further_study=True) == date(2026, 12, 2)


def test_russian_redirect_within_seven_days():
    assert RU.redirect_by(date(2026, 11, 25)) == date(2026, 12, 2)
    assert RU.redirect_by(date(2026, 10, 28)) == date(2026, 11, 5)  # day 7 is Unity Day
    assert RU.redirect_by(date(2026, 12, 25)) == date(2027, 1, 11)  # day 7 is 1 January


def test_one_russian_extension_of_at_most_thirty_days():
    current, registered = date(2026, 12, 2), date(2026, 11, 2)
    assert RU.extended_answer_by(current, date(2026, 12, 20), registered, 0) == date(2026, 12, 21)
    # current + 30 days is 1 January, a holiday: the limit moves to 11 January with it.
    assert RU.extended_answer_by(current, date(2027, 1, 11), registered, 0) == date(2027, 1, 11)


@pytest.mark.parametrize(
    "new_due",
    [date(2027, 1, 12), date(2026, 12, 2), date(2026, 11, 30)],
    ids=["past-the-limit", "same-as-current", "earlier-than-current"],
)
def test_a_russian_extension_out_of_range_is_refused(new_due):
    refused = refusal(RU.extended_answer_by, date(2026, 12, 2), new_due, date(2026, 11, 2), 0)
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/new_due_date")


def test_a_second_extension_is_refused_even_within_range():
    refused = refusal(RU.extended_answer_by, date(2026, 12, 2), date(2026, 12, 20), date(2026, 11, 2), 1)
    assert refused.code is Code.ILLEGAL_TRANSITION
    refused = refusal(BY.extended_answer_by, date(2026, 11, 17), date(2026, 11, 30), date(2026, 11, 2), 1)
    assert refused.code is Code.ILLEGAL_TRANSITION


def test_an_unregistered_appeal_cannot_be_extended():
    refused = refusal(RU.extended_answer_by, None, date(2026, 12, 20), None, 0)
    assert refused.code is Code.ILLEGAL_TRANSITION


# --- Belarus, 300-З ---------------------------------------------------------------------------


def test_belarusian_redirect_counts_five_working_days_over_a_holiday_weekend():
    # 7 November (October Revolution Day) is a Saturday: Thu 5, Fri 6, Mon 9, Tue 10, Wed 11.
    assert BY.redirect_by(date(2026, 11, 4)) == date(2026, 11, 11)


def test_belarusian_redirect_skips_orthodox_christmas():
    # Tue 6, (Wed 7 Christmas), Thu 8, Fri 9, Mon 12, Tue 13 January.
    assert not BY.is_working_day(date(2026, 1, 7))
    assert BY.redirect_by(date(2026, 1, 5)) == date(2026, 1, 13)


def test_a_transferred_saturday_is_a_working_day_in_belarus():
    assert BY.is_working_day(date(2026, 4, 25))
    assert not BY.is_working_day(date(2026, 4, 20))
    # Thu 23, Fri 24, Sat 25 (worked for Mon 20), Mon 27, Tue 28 April.
    assert BY.redirect_by(date(2026, 4, 22)) == date(2026, 4, 28)


def test_the_calendars_are_the_countries_own():
    assert RU.is_working_day(date(2026, 11, 7)) is False  # a Saturday in both
    assert BY.is_working_day(date(2026, 12, 25)) is False  # Catholic Christmas, a Belarusian holiday
    assert RU.is_working_day(date(2026, 12, 25)) is True
    assert RU.is_working_day(date(2026, 11, 4)) is False  # Unity Day, Russian only
    assert BY.is_working_day(date(2026, 11, 4)) is True


def test_belarusian_answer_in_fifteen_days_or_a_month_of_further_study():
    assert BY.answer_by(date(2026, 11, 2)) == date(2026, 11, 17)
    assert BY.answer_by(date(2026, 12, 10)) == date(2026, 12, 28)  # 25 December is a holiday (Friday)
    assert BY.answer_by(date(2026, 11, 2), further_study=True) == date(2026, 12, 2)
    # One month from 31 January is 28 February 2027, a Sunday.
    assert BY.answer_by(date(2027, 1, 31), further_study=True) == date(2027, 3, 1)


def test_belarusian_extension_stops_a_month_after_registration():
    registered = date(2026, 11, 2)
    current = BY.answer_by(registered)
    assert BY.extended_answer_by(current, date(2026, 12, 2), registered, 0) == date(2026, 12, 2)
    refused = refusal(BY.extended_answer_by, current, date(2026, 12, 3), registered, 0)
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/new_due_date")
    refused = refusal(BY.extended_answer_by, current, current, registered, 0)
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/new_due_date")


def test_belarusian_extension_limit_follows_the_month_end_and_days_off():
    registered = date(2027, 1, 31)
    current = BY.answer_by(registered)  # 15 February
    assert BY.extended_answer_by(current, date(2027, 3, 1), registered, 0) == date(2027, 3, 1)
    assert BY.extended_answer_by(current, date(2027, 2, 27), registered, 0) == date(2027, 3, 1)  # a Saturday
    assert refusal(BY.extended_answer_by, current, date(2027, 3, 2), registered, 0).pointer == "/new_due_date"


# --- construction -----------------------------------------------------------------------------


def test_clocks_are_shared_and_accept_the_profile_as_text():
    assert clock_for("RU-59FZ", "Europe/Moscow") is RU
    direct = LegalClock("RU-59FZ", "Europe/Moscow")  # type: ignore[arg-type]
    assert direct.profile is JurisdictionProfile.RU_59FZ
    assert direct.answer_by(date(2026, 11, 2)) == date(2026, 12, 2)  # 59-FZ's 30 days, not 300-З's 15


def test_a_misconfigured_agency_fails_when_its_clock_is_made():
    with pytest.raises(ZoneInfoNotFoundError):
        clock_for(JurisdictionProfile.BY_300Z, "Europe/Atlantis")
    with pytest.raises(ValueError):
        clock_for("UA-393", "Europe/Kyiv")
