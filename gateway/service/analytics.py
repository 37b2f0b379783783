"""Reports for the region's analysts and open data for everyone, read from the analytics cube
that the database keeps current as appeals and events commit (migrations 0021, 0022).

Every face (``/analytics/v1``, ``/public/v1/open-data``, ``appeals-gateway report``) calls these,
so the API, the CLI, the exports and the HTML report show the same numbers.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from psycopg import Connection

from gateway.adapters.db import analytics as analytics_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.domain.analytics import (
    FIXED_NAMES,
    Dimension,
    Period,
    Report,
    SuppressedTable,
    suppress,
    total_of,
    with_shares,
)
from gateway.domain.errors import Code, Rejection
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)


def _today(conn: Connection) -> date:
    """The region's today (the analytics time zone), for what is overdue as of now."""
    zone = conn.execute("SELECT timezone FROM analytics.setting").fetchone()["timezone"]
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def fold(hub: Hub) -> int:
    """Bring the cube up to the last committed event (see migrations 0021, 0022); returns the deltas folded.

    Every report and open-data table folds first, so it counts everything committed before it
    was asked; the relay also folds on a timer, so the log a report folds stays short.
    """
    with hub.pool.connection() as conn, conn.transaction():
        return analytics_db.fold(conn)


class PeriodicFold:
    """The relay's timer: fold every ``every`` seconds until ``stop``; a failed fold (the database
    away) is logged and tried again next time — the deltas wait in their table."""

    def __init__(self, hub: Hub, every: float, stop: threading.Event) -> None:
        self.hub, self.every, self.stop = hub, every, stop

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                folded = fold(self.hub)
            except Exception as exc:
                log.warning("analytics fold failed; trying again", error=type(exc).__name__)
                continue
            if folded:
                log.info("analytics deltas folded", deltas=folded)


def report(hub: Hub, period: Period, by: tuple[Dimension, ...]) -> Report:
    fold(hub)

    def read(conn: Connection) -> list[dict[str, Any]]:
        return analytics_db.report_rows(conn, period, by, _today(conn))

    rows = [_named(with_shares(dict(r)), by) for r in db_read(hub.pool, read)]
    return Report(period, by, rows, total_of(rows))


def _named(row: dict[str, Any], by: tuple[Dimension, ...]) -> dict[str, Any]:
    """Names of the fixed lists (channels, applicant types, result categories) filled in."""
    for d in by:
        if d in FIXED_NAMES and row.get(d.value + "_name") is None:
            row[d.value + "_name"] = FIXED_NAMES[d].get(row[d.value], row[d.value])
    return row


# --- open data --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenData:
    """Appeals received per month, topic section and municipality, small counts suppressed."""

    period: Period
    threshold: int
    months: dict[str, SuppressedTable]
    names: dict[str, dict[str, str]]

    def records(self) -> list[dict[str, Any]]:
        """One record per published cell (``count`` null when hidden), then the totals: what the
        JSON and the CSV carry."""
        out: list[dict[str, Any]] = []
        for month, table in self.months.items():
            for (section, municipality), n in table.cells.items():
                out.append(self._record(month, section, municipality, n))
            out += [self._record(month, s, "*", n) for s, n in table.row_totals.items()]
            out += [self._record(month, "*", m, n) for m, n in table.column_totals.items()]
            out.append(self._record(month, "*", "*", table.total))
        return out

    def _record(self, month: str, section: str, municipality: str, n: int | None) -> dict[str, Any]:
        return {
            "month": month,
            "section": section,
            "section_name": self.names["classifier"].get(section),
            "municipality": municipality,
            "municipality_name": self.names["territory"].get(municipality),
            "count": n,
        }


def _whole_months(period: Period, what: str) -> list[date]:
    months = period.months()
    if period.start != months[0] or period.end.day != 1:
        raise Rejection(Code.INVALID_REQUEST, f"{what} by whole months", "/period")
    return months


def open_data(hub: Hub, period: Period) -> OpenData:
    """Only whole months are published: a day's or a week's table would undo the monthly ones'
    suppression by difference."""
    months = _whole_months(period, "open data is published")

    def read(conn: Connection) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
        return analytics_db.open_data_counts(conn, months), analytics_db.names(conn)

    fold(hub)
    rows, names = db_read(hub.pool, read)
    by_month: dict[str, dict[tuple[str, str], int]] = {}
    for r in rows:
        by_month.setdefault(r["month"], {})[(r["section"], r["municipality"])] = r["n"]
    threshold = hub.settings.open_data_threshold
    tables = {month: suppress(counts, threshold) for month, counts in sorted(by_month.items())}
    return OpenData(period, threshold, tables, names)


# --- the BI view as a file (Parquet) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthlyView:
    """A period's rows of the BI view ``analytics.v1_monthly``: one per cube cell, its dimensions
    and measures, columns as (name, PostgreSQL type name) in the view's order."""

    period: Period
    columns: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]


def monthly_view(hub: Hub, period: Period) -> MonthlyView:
    """Whole months only: the view is monthly, and a day's period would silently export the
    whole month around it."""
    months = _whole_months(period, "the BI view is exported")

    def read(conn: Connection) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
        return analytics_db.monthly_view(conn, months)

    fold(hub)
    columns, rows = db_read(hub.pool, read)
    return MonthlyView(period, columns, rows)


# --- reference tables -----------------------------------------------------------------------------


def _csv_rows(path: Path, columns: int, what: str) -> list[list[str]]:
    """Rows of a UTF-8 CSV (a header row first), each with ``columns`` non-empty cells."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    body = [[c.strip() for c in row] for row in rows[1:] if any(c.strip() for c in row)]
    for n, row in enumerate(body, start=2):
        if len(row) < columns or not all(row[:columns]):
            raise Rejection(Code.INVALID_REQUEST, f"{what} line {n}: {columns} non-empty columns expected")
    return body


def load_reference(
    hub: Hub, *, classifier: Path | None, territories: Path | None, actor: str
) -> dict[str, int]:
    """Replace the classifier (``code,name``) and/or the territories (``code_prefix,name,level``)
    from CSV files, in one transaction: a bad file changes nothing."""
    loaded: dict[str, int] = {}
    classifier_rows = _csv_rows(classifier, 2, classifier.name) if classifier else None
    territory_rows = _csv_rows(territories, 3, territories.name) if territories else None
    with hub.pool.connection() as conn, conn.transaction():
        try:
            if classifier_rows is not None:
                entries = [(r[0], r[1]) for r in classifier_rows]
                loaded["classifier"] = analytics_db.replace_classifier(conn, entries)
            if territory_rows is not None:
                entries3 = [(r[0], r[1], r[2]) for r in territory_rows]
                loaded["territories"] = analytics_db.replace_territories(conn, entries3)
        except Exception as exc:  # a CHECK or a duplicate: the database names the row
            if not hasattr(exc, "sqlstate"):
                raise
            raise Rejection(Code.INVALID_REQUEST, f"reference file refused: {exc}".splitlines()[0]) from None
        append_audit(conn, None, actor, "analytics-reference-loaded", loaded)
    return loaded


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- the period's overview (the HTML report and the workbook) --------------------------------------

OVERVIEW = {
    "topics_over_time": (Dimension.MONTH, Dimension.SECTION),
    "sections": (Dimension.SECTION,),
    "municipalities": (Dimension.MUNICIPALITY,),
    "agencies": (Dimension.AGENCY,),
    "results": (Dimension.RESULT,),
    "channels": (Dimension.CHANNEL,),
    "applicant_types": (Dimension.APPLICANT_TYPE,),
}


def overview(hub: Hub, period: Period) -> dict[str, Report]:
    """The reports a period's overview is made of, by name (the same as ``report`` gives one by one)."""
    fold(hub)
    return {name: report(hub, period, by) for name, by in OVERVIEW.items()}
