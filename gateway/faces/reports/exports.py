"""Reports as CSV, XLSX and the self-contained HTML report; the BI view as Parquet."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook

from gateway.domain.analytics import MEASURES, Report
from gateway.faces.reports import svg
from gateway.service.analytics import MonthlyView, csv_text

SHARES = ("answered_on_time_share", "registered_on_time_share", "average_rating")
RATINGS = ("rating_1", "rating_2", "rating_3", "rating_4", "rating_5")


def columns(report: Report) -> list[str]:
    names = [c for d in report.by for c in (d.value, d.value + "_name")]
    return [*names, *MEASURES, *SHARES]


def to_json(report: Report) -> dict[str, Any]:
    return {
        "period": {"label": report.period.label, "from": report.period.start.isoformat(),
                   "to": report.period.last.isoformat()},
        "by": [d.value for d in report.by],
        "rows": report.rows,
        "total": report.total,
    }  # fmt: skip


def to_csv(report: Report) -> str:
    return csv_text(report.rows, columns(report))


def to_xlsx(reports: dict[str, Report]) -> bytes:
    """One sheet per report, a header row, the total last."""
    book = Workbook()
    book.remove(book.active)
    for name, report in reports.items():
        sheet = book.create_sheet(title=name[:31])
        cols = columns(report)
        sheet.append(cols)
        for row in report.rows:
            sheet.append([row.get(c) for c in cols])
        sheet.append(
            ["total", *([None] * (len(report.by) * 2 - 1)), *(report.total[m] for m in (*MEASURES, *SHARES))]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# PostgreSQL's types of the BI view's columns, as Parquet's: a column of another type is refused
# rather than guessed, so a new view version that adds one shows up here, in a test.
_ARROW_TYPES = {"date": "date32", "text": "string", "varchar": "string", "int2": "int16",
                "int4": "int32", "int8": "int64", "bool": "bool_"}  # fmt: skip


def to_parquet(view: MonthlyView) -> bytes:
    """The period's rows of ``analytics.v1_monthly`` as one Parquet file, each column typed as the
    view types it (dates, integers, text), in the view's order — what Superset, Power BI or DuckDB
    load without a database connection."""
    import pyarrow as pa  # a large library: imported when a Parquet file is asked for
    import pyarrow.parquet as pq

    fields = []
    for name, pg_type in view.columns:
        if pg_type not in _ARROW_TYPES:
            raise TypeError(f"column {name} of type {pg_type} has no Parquet type here")
        fields.append(pa.field(name, getattr(pa, _ARROW_TYPES[pg_type])()))
    schema = pa.schema(fields, metadata={"period": view.period.label, "view": "analytics.v1_monthly"})
    arrays = [pa.array([row[i] for row in view.rows], type=f.type) for i, f in enumerate(fields)]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), out)
    return out.getvalue()


_ENV = Environment(
    loader=PackageLoader("gateway.faces.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _label(row: dict[str, Any], dim: str) -> str:
    return row.get(dim + "_name") or row[dim] or "—"


def charts(reports: dict[str, Report]) -> dict[str, str]:
    """The four charts of the HTML report, as SVG text."""
    over_time = reports["topics_over_time"]
    months = [m.isoformat()[:7] for m in over_time.period.months()]
    top = [r["section"] for r in reports["sections"].rows[:6]]
    series = {}
    for section in top:
        counts = {r["month"]: r["received"] for r in over_time.rows if r["section"] == section}
        name = next(_label(r, "section") for r in reports["sections"].rows if r["section"] == section)
        series[f"{section} {name}" if name != section else section] = [counts.get(m, 0) for m in months]
    agencies = reports["agencies"].rows
    total = reports["sections"].total
    return {
        "topics": svg.line_chart("Обращения по разделам классификатора, по месяцам", months, series),
        "territories": svg.bar_chart(
            "Обращения по муниципальным образованиям",
            [(_label(r, "municipality"), r["received"]) for r in reports["municipalities"].rows[:20]],
        ),
        "timeliness": svg.bar_chart(
            "Доля ответов в срок, %",
            [
                (_label(r, "agency"), round(100 * (r["answered_on_time_share"] or 0), 1))
                for r in agencies[:20]
            ],
            unit="%",
        ),
        "satisfaction": svg.bar_chart(
            "Оценки ответов заявителями", [(f"оценка {n}", total[f"rating_{n}"]) for n in range(1, 6)]
        ),
    }


def to_html(reports: dict[str, Report]) -> str:
    period = reports["sections"].period
    return _ENV.get_template("report.html").render(
        period=period,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        reports=reports,
        total=reports["sections"].total,
        charts=charts(reports),
        label=_label,
    )
