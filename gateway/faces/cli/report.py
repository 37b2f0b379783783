"""``appeals-gateway report``: the analysts' reports in a terminal and as files (CSV, XLSX, HTML,
the BI view as Parquet),
open data, and the reference tables that name classifier entries and territories.

The same service as ``/analytics/v1`` and the same renderings (``gateway/faces/reports``), so a
file written here equals the API's download. Reads the database directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.faces.cli.session import hub_session

app = typer.Typer(help="Reports for analysts, open data, reference tables.", no_args_is_help=True)

PeriodOption = Annotated[
    str, typer.Option("--period", help="2026-11-25, 2026-11, 2026-Q4, 2026, or FROM..TO (days)")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="write here instead of standard output")]


def _write(text: str | bytes, out: Path | None) -> None:
    if out is None:
        typer.echo(text if isinstance(text, str) else "binary output needs --out", nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    typer.echo(f"written: {out}")


@app.command("show")
def show(
    period: PeriodOption,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="1 to 3 of: section, theme, topic, question, region, "
            "municipality, agency, channel, applicant_type, result, month",
        ),
    ],
    format: Annotated[str, typer.Option("--format", help="table, json, csv or xlsx")] = "table",
    out: OutOption = None,
) -> None:
    """Counts and timeliness over a period, grouped by the dimensions given."""
    from gateway.domain.analytics import parse_dimensions, parse_period
    from gateway.faces.reports import exports
    from gateway.service import analytics

    with hub_session() as hub:
        report = analytics.report(hub, parse_period(period), parse_dimensions(by))
    if format == "json":
        _write(json.dumps(exports.to_json(report), ensure_ascii=False, indent=2) + "\n", out)
    elif format == "csv":
        _write(exports.to_csv(report), out)
    elif format == "xlsx":
        _write(exports.to_xlsx({"report": report}), out)
    elif format == "table":
        from gateway.faces.cli.ops import _table

        dims = [d.value for d in report.by]
        measures = [
            "received",
            "answered",
            "answered_on_time",
            "answered_late",
            "open_overdue",
            "average_rating",
            "repeated",
            "collective",
        ]
        rows = [[r.get(d + "_name") or r[d] or "—" for d in dims] + [r[m] for m in measures]
                for r in report.rows]  # fmt: skip
        rows.append(["total"] + [""] * (len(dims) - 1) + [report.total[m] for m in measures])
        typer.secho(f"Appeals received {report.period.start}..{report.period.last}", bold=True)
        _table([*dims, *measures], [[("—" if c is None else c) for c in row] for row in rows])
    else:
        raise typer.BadParameter("table, json, csv or xlsx", param_hint="--format")


@app.command("html")
def html(period: PeriodOption, out: Annotated[Path, typer.Option("--out")]) -> None:
    """The period's self-contained HTML report (SVG charts, no script, nothing fetched)."""
    from gateway.domain.analytics import parse_period
    from gateway.faces.reports import exports
    from gateway.service import analytics

    with hub_session() as hub:
        reports = analytics.overview(hub, parse_period(period))
    _write(exports.to_html(reports), out)


@app.command("workbook")
def workbook(period: PeriodOption, out: Annotated[Path, typer.Option("--out")]) -> None:
    """The period's overview as an XLSX workbook, one sheet per report."""
    from gateway.domain.analytics import parse_period
    from gateway.faces.reports import exports
    from gateway.service import analytics

    with hub_session() as hub:
        reports = analytics.overview(hub, parse_period(period))
    _write(exports.to_xlsx(reports), out)


@app.command("parquet")
def parquet(
    period: PeriodOption, out: Annotated[Path, typer.Option("--out", "-o", help="the .parquet file")]
) -> None:
    """The period's rows of the BI view analytics.v1_monthly as one Parquet file (whole months)."""
    from gateway.domain.analytics import parse_period
    from gateway.faces.reports import exports
    from gateway.service import analytics

    with hub_session() as hub:
        view = analytics.monthly_view(hub, parse_period(period))
    _write(exports.to_parquet(view), out)


@app.command("open-data")
def open_data(
    period: PeriodOption,
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    out: OutOption = None,
) -> None:
    """Appeals per month × topic section × municipality, small counts hidden (as /public/v1/open-data)."""
    from gateway.domain.analytics import parse_period
    from gateway.service import analytics

    with hub_session() as hub:
        published = analytics.open_data(hub, parse_period(period))
    records = published.records()
    if format == "json":
        body = {"period": published.period.label, "threshold": published.threshold, "records": records}
        _write(json.dumps(body, ensure_ascii=False, indent=2) + "\n", out)
    else:
        columns = ["month", "section", "section_name", "municipality", "municipality_name", "count"]
        _write(analytics.csv_text(records, columns), out)


@app.command("load-reference")
def load_reference(
    classifier: Annotated[Path | None, typer.Option("--classifier", help="CSV: code,name")] = None,
    territories: Annotated[
        Path | None, typer.Option("--territories", help="CSV: code_prefix,name,level")
    ] = None,
) -> None:
    """Replace the thematic classifier's names and/or the territories' (one transaction)."""
    from gateway.service import analytics

    if classifier is None and territories is None:
        raise typer.BadParameter("give --classifier, --territories or both")
    with hub_session() as hub:
        loaded = analytics.load_reference(
            hub, classifier=classifier, territories=territories, actor="analyst:cli"
        )
    typer.echo(", ".join(f"{what}: {n} entries" for what, n in loaded.items()))
