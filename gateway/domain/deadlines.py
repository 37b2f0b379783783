"""The legal clock: when an agency must register, redirect and answer an appeal.

Pure functions of dates: "now" is always a parameter. Dates are counted in the agency's own time
zone (an appeal received at 23:30 UTC is already tomorrow in Moscow) and working days come from
the ``holidays`` package, which knows both countries' public holidays and transferred days off.

RU-59FZ (Federal Law 59-FZ): register within 3 days of receipt (art. 8 p.2); redirect within
7 days of registration (art. 8 p.3); answer within 30 days of registration (art. 12 p.1); one
extension by at most 30 days, with the applicant told why (art. 12 p.2). The law counts calendar
days; a period ending on a day off ends on the next working day (Civil Code art. 193).

BY-300Z (Law 300-З): redirect within 5 working days; answer within 15 days, or one month when
further study is needed; an extension may not take the answer past one month from registration.
The registration period is taken as 3 working days — DOMAIN.md marks the Belarusian registration
rule "check before relying", and so does this module.
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

MAX_RU_EXTENSION_DAYS = 30


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

    @property
    def _country(self) -> str:
        return "RU" if self.profile is JurisdictionProfile.RU_59FZ else "BY"

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(ZoneInfo(self.timezone)).date()

    def is_working_day(self, day: date) -> bool:
        return _calendar(self._country).is_working_day(day)

    def _on_working_day(self, day: date) -> date:
        """A period ending on a day off ends on the next working day (Civil Code art. 193)."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _working_days_after(self, start: date, count: int) -> date:
        day = start
        while count:
            day += timedelta(days=1)
            count -= self.is_working_day(day)
        return day

    def register_by(self, received_at: datetime) -> date:
        received = self.local_date(received_at)
        if self.profile is JurisdictionProfile.RU_59FZ:
            return self._on_working_day(received + timedelta(days=3))
        return self._working_days_after(received, 3)

    def redirect_by(self, registered_on: date) -> date:
        if self.profile is JurisdictionProfile.RU_59FZ:
            return self._on_working_day(registered_on + timedelta(days=7))
        return self._working_days_after(registered_on, 5)

    def answer_by(self, registered_on: date, *, further_study: bool = False) -> date:
        if self.profile is JurisdictionProfile.RU_59FZ:
            return self._on_working_day(registered_on + timedelta(days=30))
        if further_study:
            return self._on_working_day(_add_month(registered_on))
        return self._on_working_day(registered_on + timedelta(days=15))

    def extended_answer_by(
        self, current_due: date | None, new_due: date, registered_on: date | None, extensions_so_far: int
    ) -> date:
        """The due date after the one extension the law allows, or a refusal saying why not."""
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
        if self.profile is JurisdictionProfile.RU_59FZ:
            latest = current_due + timedelta(days=MAX_RU_EXTENSION_DAYS)
        else:
            latest = _add_month(registered_on)
        latest = self._on_working_day(latest)
        if new_due > latest:
            raise Rejection(
                Code.INVALID_REQUEST,
                f"the law allows extending the answer to {latest} at most",
                "/new_due_date",
            )
        return self._on_working_day(new_due)


@cache
def clock_for(profile: JurisdictionProfile, timezone: str) -> LegalClock:
    return LegalClock(JurisdictionProfile(profile), timezone)
