"""The legal clock: when an agency must register, redirect and answer an appeal.

Pure functions of dates: "now" is always a parameter. Dates are counted in the agency's own time
zone (an appeal received at 23:30 UTC is already tomorrow in Moscow) and working days come from
the ``holidays`` package, which knows both countries' public holidays, transferred days off and
working Saturdays (keep it up to date: each year's transfers are decreed only months ahead).

RU-59FZ (Federal Law 59-FZ): register within 3 days of receipt (art. 8 p.2); redirect within
7 days of registration (art. 8 p.3); answer within 30 days of registration (art. 12 p.1); one
extension by at most 30 days, with the applicant told why (art. 12 p.2). The law counts calendar
days and says nothing of days off; by analogy with the Civil Code a period starts the day after
its event (art. 191) and, ending on a day off, ends on the next working day (art. 193).

BY-300Z (Law 300-З): redirect within 5 working days (art. 10); answer within 15 days, or one
month when further study is needed (art. 17), a period ending on a day off ending on the next
working day; an extension may not take the answer past one month from registration. The
registration period is taken as 3 working days — docs/domain.md marks the Belarusian registration rule
"check before relying", and so does this module.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from gateway.domain.errors import Code, Rejection
from gateway.domain.model import JurisdictionProfile

MAX_RU_EXTENSION_DAYS = 30  # 59-FZ art. 12 p.2
_COUNTRY = {JurisdictionProfile.RU_59FZ: "RU", JurisdictionProfile.BY_300Z: "BY"}


@cache
def _calendar(country: str) -> holidays.HolidayBase:
    """One calendar per country; ``holidays`` fills years in as they are asked for."""
    return holidays.country_holidays(country)


def _add_month(day: date) -> date:
    """The same day next month, or that month's last day (31 January → 28 or 29 February)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class LegalClock:
    """The deadlines of one agency: its jurisdiction profile and its time zone."""

    profile: JurisdictionProfile
    timezone: str

    def __post_init__(self) -> None:
        # Fail on a misconfigured agency now, not on its first appeal; a plain "RU-59FZ" string
        # becomes the enum, so the profile checks below cannot silently fall through to BY rules.
        object.__setattr__(self, "profile", JurisdictionProfile(self.profile))
        ZoneInfo(self.timezone)

    @property
    def _ru(self) -> bool:
        return self.profile is JurisdictionProfile.RU_59FZ

    def local_date(self, instant: datetime) -> date:
        """The agency's calendar date at ``instant``: deadlines run on the agency's local days."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("the legal clock needs an aware datetime, not a naive one")
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def is_working_day(self, day: date) -> bool:
        """Not a weekend or public holiday, or a weekend day decreed a working day (a transfer)."""
        return _calendar(_COUNTRY[self.profile]).is_working_day(day)

    def _on_working_day(self, day: date) -> date:
        """A period ending on a day off ends on the next working day (RU Civil Code art. 193)."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _working_days_after(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself does not count)."""
        day = start
        while count:
            day += timedelta(days=1)
            count -= self.is_working_day(day)
        return day

    def register_by(self, received_at: datetime) -> date:
        """RU: 3 calendar days from receipt (59-FZ art. 8 p.2), moved off a day off.

        BY: 3 working days — the hub's working assumption, not a checked rule of 300-З.
        """
        received = self.local_date(received_at)
        if self._ru:
            return self._on_working_day(received + timedelta(days=3))
        return self._working_days_after(received, 3)

    def redirect_by(self, registered_on: date) -> date:
        """RU: 7 calendar days from registration (59-FZ art. 8 p.3); BY: 5 working days (300-З art. 10)."""
        if self._ru:
            return self._on_working_day(registered_on + timedelta(days=7))
        return self._working_days_after(registered_on, 5)

    def answer_by(self, registered_on: date, *, further_study: bool = False) -> date:
        """RU: 30 days (59-FZ art. 12 p.1). BY: 15 days, or a month with further study (300-З art. 17).

        ``further_study`` has no meaning under 59-FZ, where more time is only an extension.
        """
        if self._ru:
            due = registered_on + timedelta(days=30)
        elif further_study:
            due = _add_month(registered_on)
        else:
            due = registered_on + timedelta(days=15)
        return self._on_working_day(due)

    def extended_answer_by(
        self, current_due: date | None, new_due: date, registered_on: date | None, extensions_so_far: int
    ) -> date:
        """The due date after the one extension the law allows, or a refusal saying why not.

        RU: at most 30 days past the current due date (59-FZ art. 12 p.2). BY: at most one month
        from registration, the "further study" period of 300-З art. 17. A new date on a day off
        is moved to the next working day, as every other deadline is.
        """
        if extensions_so_far >= 1:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the answer's due date was already extended once")
        if current_due is None or registered_on is None:
            raise Rejection(Code.ILLEGAL_TRANSITION, "only a registered appeal's due date can be extended")
        if new_due <= current_due:
            raise Rejection(
                Code.INVALID_REQUEST,
                f"new_due_date must be after the current one, {current_due}",
                "/new_due_date",
            )
        if self._ru:
            latest = self._on_working_day(current_due + timedelta(days=MAX_RU_EXTENSION_DAYS))
        else:
            latest = self.answer_by(registered_on, further_study=True)
        if new_due > latest:
            raise Rejection(
                Code.INVALID_REQUEST,
                f"the law allows extending the answer to {latest} at most",
                "/new_due_date",
            )
        return self._on_working_day(new_due)


@cache
def clock_for(profile: JurisdictionProfile | str, timezone: str) -> LegalClock:
    """The (shared, immutable) clock of an agency with this profile and time zone."""
    return LegalClock(JurisdictionProfile(profile), timezone)
