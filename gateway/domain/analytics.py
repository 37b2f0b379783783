"""What the region's analysts ask of the hub: periods, the dimensions a report groups by, what it
counts, and the suppression that makes published counts safe to publish.

Pure: the service layer reads the counts (``gateway/adapters/db/analytics.py``) and hands them
here to be shaped; the faces render what comes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from gateway.domain.errors import Code, Rejection

# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Calendar days ``start`` ≤ day < ``end`` in the region's time zone, with the label asked for."""

    start: date
    end: date
    label: str

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    def whole_months(self) -> tuple[date, date]:
        """The first days of the first and past-the-last whole months inside the period (equal
        when there is none): the cube answers for these, the facts for the days around them."""
        first = self.start if self.start.day == 1 else _next_month(self.start)
        stop = self.end.replace(day=1)
        return (first, stop) if first < stop else (first, first)

    def edges(self) -> list[tuple[date, date]]:
        """The day ranges outside the whole months (at most two, each shorter than a month)."""
        first, stop = self.whole_months()
        if first == stop:
            return [(self.start, self.end)]
        return [(a, b) for a, b in ((self.start, first), (stop, self.end)) if a < b]

    def months(self) -> list[date]:
        """The first day of every month the period touches."""
        months, month = [], self.start.replace(day=1)
        while month < self.end:
            months.append(month)
            month = _next_month(month)
        return months


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
MAX_PERIOD_DAYS = 3700  # ten years: a report wider than that is a mistake, not a question


def parse_period(text: str | None, pointer: str = "/period") -> Period:
    """``2026-11-25`` (a day), ``2026-11`` (a month), ``2026-Q4``, ``2026``, or ``FROM..TO`` (two
    days, both included)."""
    text = (text or "").strip()
    try:
        if ".." in text:
            a, b = (part.strip() for part in text.split("..", 1))
            if not (_DAY.match(a) and _DAY.match(b)):
                raise ValueError
            start, last = date.fromisoformat(a), date.fromisoformat(b)
            if last < start:
                raise Rejection(Code.INVALID_REQUEST, "the period ends before it starts", pointer)
            period = Period(start, last + timedelta(days=1), f"{start}..{last}")
        elif _DAY.match(text):
            day = date.fromisoformat(text)
            period = Period(day, day + timedelta(days=1), text)
        elif m := _MONTH.match(text):
            start = date(int(m[1]), int(m[2]), 1)
            period = Period(start, _next_month(start), text)
        elif m := _QUARTER.match(text):
            start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
            period = Period(start, _next_month(_next_month(_next_month(start))), text.upper())
        elif m := _YEAR.match(text):
            period = Period(date(int(m[1]), 1, 1), date(int(m[1]) + 1, 1, 1), text)
        else:
            raise ValueError
    except (ValueError, OverflowError):  # the day after 9999-12-31 overflows: not a period either
        raise Rejection(
            Code.INVALID_REQUEST,
            "period must be a day (2026-11-25), a month (2026-11), a quarter (2026-Q4), a year (2026) "
            "or FROM..TO (2026-01-01..2026-03-15)",
            pointer,
        ) from None
    if (period.end - period.start).days > MAX_PERIOD_DAYS:
        raise Rejection(Code.INVALID_REQUEST, f"a period is at most {MAX_PERIOD_DAYS} days", pointer)
    return period


# --- dimensions and measures ----------------------------------------------------------------------


class Dimension(StrEnum):
    """What a report groups by. The classifier's four levels are prefixes of the topic code
    (``раздел.тематика.тема.вопрос``); territories are named by reference prefixes."""

    SECTION = "section"
    THEME = "theme"
    TOPIC = "topic"
    QUESTION = "question"
    REGION = "region"
    MUNICIPALITY = "municipality"
    AGENCY = "agency"
    CHANNEL = "channel"
    APPLICANT_TYPE = "applicant_type"
    RESULT = "result"
    MONTH = "month"


# Characters of the topic code each classifier level keeps (4-digit blocks joined by dots).
TOPIC_LEVELS = {Dimension.SECTION: 4, Dimension.THEME: 9, Dimension.TOPIC: 14, Dimension.QUESTION: 19}
TERRITORY_LEVELS = {Dimension.REGION: "region", Dimension.MUNICIPALITY: "municipality"}
# When no reference prefix names a territory, it is shown by this many leading digits.
TERRITORY_FALLBACK = {Dimension.REGION: 2, Dimension.MUNICIPALITY: 5}
MAX_DIMENSIONS = 3

# The cube's counts, in the order every export lists them (see migrations 0021 and 0022 for each
# rule); the ones counted since came last, so an export's earlier columns keep their places.
MEASURES = (
    "received",
    "registered",
    "registered_on_time",
    "answered",
    "answered_on_time",
    "answered_late",
    "open_overdue",
    "declined",
    "extended",
    "redirected",
    "redirected_in_time",
    "rated",
    "rating_sum",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "repeated",  # linked at intake to the same applicant's earlier appeals (docs/repeated-appeals.md)
    "collective",  # signed by co-applicants too (docs/collective-appeals.md)
    "co_applicants",  # how many co-applicants signed them
    "declined_repeated",  # declined on the ground `repeated` (59-FZ art. 11 p.5)
)

CHANNEL_NAMES = {
    "portal": "портал",
    "e-mail": "электронная почта (после модерации)",
    "upload/post": "почта (по статусам СЭД)",
    "upload/in-person": "личный приём (по статусам СЭД)",
    "upload/e-mail": "электронная почта органа (по статусам СЭД)",
    "upload/website": "сайт органа (по статусам СЭД)",
}
APPLICANT_TYPE_NAMES = {
    "individual": "гражданин",
    "entrepreneur": "индивидуальный предприниматель",
    "legal-entity": "юридическое лицо",
    "": "не известен",
}
RESULT_NAMES = {
    "supported": "поддержано",
    "supported-measures-taken": "поддержано, меры приняты",
    "explained": "разъяснено",
    "not-supported": "не поддержано",
    "answer-given": "дан ответ автору",
    "left-without-answer": "оставлено без ответа автору",
    "forwarded-by-competence": "направлено по компетенции",
    "term-extended": "продлён срок рассмотрения",
    "": "результат не сообщён",
}
FIXED_NAMES = {
    Dimension.CHANNEL: CHANNEL_NAMES,
    Dimension.APPLICANT_TYPE: APPLICANT_TYPE_NAMES,
    Dimension.RESULT: RESULT_NAMES,
}


def parse_dimensions(text: str | None, pointer: str = "/by") -> tuple[Dimension, ...]:
    """``section,municipality``: one to three distinct dimensions."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    try:
        dims = tuple(Dimension(n) for n in names)
    except ValueError:
        known = ", ".join(d.value for d in Dimension)
        raise Rejection(Code.INVALID_REQUEST, f"by names dimensions among: {known}", pointer) from None
    if not 0 < len(dims) <= MAX_DIMENSIONS or len(set(dims)) != len(dims):
        raise Rejection(Code.INVALID_REQUEST, f"by names 1 to {MAX_DIMENSIONS} different dimensions", pointer)
    return dims


@dataclass(frozen=True, slots=True)
class Report:
    """Rows of counts by the dimensions asked for, and their total; each row carries ``<dim>``
    (the code) and ``<dim>_name`` for every dimension, then the measures."""

    period: Period
    by: tuple[Dimension, ...]
    rows: list[dict[str, Any]]
    total: dict[str, Any]


def with_shares(counts: dict[str, Any]) -> dict[str, Any]:
    """The shares an analyst reads first, computed once here so every face shows the same."""
    answered, rated = counts["answered"], counts["rated"]
    registered = counts["registered"]
    return {
        **counts,
        "answered_on_time_share": round(counts["answered_on_time"] / answered, 4) if answered else None,
        "registered_on_time_share": (
            round(counts["registered_on_time"] / registered, 4) if registered else None
        ),
        "average_rating": round(counts["rating_sum"] / rated, 2) if rated else None,
    }


def total_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return with_shares({m: sum(r[m] for r in rows) for m in MEASURES})


# --- open data: small-cell suppression --------------------------------------------------------

HIDDEN = None  # a suppressed cell is published as null (an empty CSV cell)


@dataclass(frozen=True, slots=True)
class SuppressedTable:
    """One month's counts, rows (topic sections) × columns (municipalities), with row and column
    totals and the grand total; a hidden cell is ``None``. Totals are never hidden: they are
    what the table is for, and complementary suppression keeps them from undoing a hidden cell."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], int | None]
    row_totals: dict[str, int]
    column_totals: dict[str, int]
    total: int


def suppress(counts: dict[tuple[str, str], int], threshold: int) -> SuppressedTable:
    """Hide every count from 1 to ``threshold - 1``; then, wherever a row or column has exactly
    one hidden cell, hide its smallest other non-zero cell too, until no row or column has one.

    With a single hidden cell, its value is the published total minus the visible cells: the
    suppression would be undone by subtraction. Two or more hidden cells in every line that has
    any leave only their sum known. The partner is the smallest non-zero cell (hiding it costs the
    least information); a line whose other cells are all zero hides a zero, which then reads as
    one of two hidden cells like any other.
    """
    rows = sorted({r for r, _ in counts})
    columns = sorted({c for _, c in counts})
    full = {(r, c): counts.get((r, c), 0) for r in rows for c in columns}
    hidden = {key for key, n in full.items() if 0 < n < threshold}
    changed = True
    while changed:
        changed = False
        for line in [[(r, c) for c in columns] for r in rows] + [[(r, c) for r in rows] for c in columns]:
            if sum(key in hidden for key in line) != 1:
                continue
            partners = sorted((full[k] == 0, full[k], k) for k in line if k not in hidden)
            if partners:
                hidden.add(partners[0][2])
                changed = True
    cells = {key: (HIDDEN if key in hidden else n) for key, n in full.items()}
    row_totals = {r: sum(full[(r, c)] for c in columns) for r in rows}
    column_totals = {c: sum(full[(r, c)] for r in rows) for c in columns}
    return SuppressedTable(rows, columns, cells, row_totals, column_totals, sum(full.values()))


def disclosed(table: SuppressedTable, threshold: int) -> list[tuple[str, str]]:
    """The hidden cells a reader can compute exactly from the published totals (an attacker's
    first step): a hidden cell alone in its row or column. Empty when suppression did its job."""
    found = []
    for r in table.rows:
        for c in table.columns:
            if table.cells[(r, c)] is not HIDDEN:
                continue
            row_hidden = sum(table.cells[(r, x)] is HIDDEN for x in table.columns)
            column_hidden = sum(table.cells[(y, c)] is HIDDEN for y in table.rows)
            if row_hidden == 1 or column_hidden == 1:
                found.append((r, c))
    return found
