"""The analysts' REST face (``/analytics/v1``, analysts' own tokens) and the public open data."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Controller, Response, get
from litestar.di import Provide

from gateway.domain.analytics import parse_dimensions, parse_period
from gateway.domain.errors import Code, Rejection
from gateway.faces.reports import exports
from gateway.faces.rest import contract
from gateway.faces.rest.auth import calling_analyst
from gateway.service import analytics
from gateway.service.hub import Hub

XLSX = contract.XLSX
PARQUET = contract.PARQUET
CSV = "text/csv; charset=utf-8"
FORMATS = ("json", "csv", "xlsx")


def _format(value: str) -> str:
    if value not in FORMATS:
        raise Rejection(Code.INVALID_REQUEST, f"format must be one of: {', '.join(FORMATS)}", "/format")
    return value


def _download(body: str | bytes, media_type: str, name: str) -> Response[Any]:
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class AnalyticsController(Controller):
    path = "/analytics/v1"
    tags = ["Analytics"]
    security = contract.AS_ANALYST
    dependencies = {"analyst": Provide(calling_analyst, sync_to_thread=True)}

    @get(
        "/reports",
        summary="Counts and timeliness over a period, grouped by one to three dimensions",
        description="`period`: 2026-11-25, 2026-11, 2026-Q4, 2026 or 2026-01-01..2026-03-15; `by`: "
        "section, theme, topic, question, region, municipality, agency, channel, applicant_type, result, "
        "month (comma-separated); `format`: json, csv or xlsx.",
        responses=contract.answers(dict[str, Any], 401),
    )
    async def report(self, hub: Hub, analyst: str, period: str, by: str, format: str = "json") -> Any:
        fmt = _format(format)
        chosen, dims = parse_period(period), parse_dimensions(by)
        result = await anyio.to_thread.run_sync(analytics.report, hub, chosen, dims)
        name = f"appeals-{chosen.label}-{'-'.join(d.value for d in dims)}"
        if fmt == "csv":
            return _download(exports.to_csv(result), CSV, name + ".csv")
        if fmt == "xlsx":
            return _download(exports.to_xlsx({"report": result}), XLSX, name + ".xlsx")
        return exports.to_json(result)

    @get(
        "/overview",
        summary="The period's overview: every report of the HTML report (json or xlsx)",
        responses=contract.answers(dict[str, Any], 401),
    )
    async def overview(self, hub: Hub, analyst: str, period: str, format: str = "json") -> Any:
        fmt = _format(format)
        chosen = parse_period(period)
        reports = await anyio.to_thread.run_sync(analytics.overview, hub, chosen)
        if fmt == "xlsx":
            return _download(exports.to_xlsx(reports), XLSX, f"appeals-{chosen.label}.xlsx")
        if fmt == "csv":
            raise Rejection(
                Code.INVALID_REQUEST, "the overview is json or xlsx; a report is csv too", "/format"
            )
        return {name: exports.to_json(r) for name, r in reports.items()}

    @get(
        "/report.html",
        summary="The period's report as one self-contained HTML page with SVG charts",
        responses=contract.answers(str, 401, media_type="text/html"),
    )
    async def html(self, hub: Hub, analyst: str, period: str) -> Response[str]:
        chosen = parse_period(period)
        reports = await anyio.to_thread.run_sync(analytics.overview, hub, chosen)
        return Response(exports.to_html(reports), media_type="text/html; charset=utf-8")

    @get(
        "/export.parquet",
        summary="The period's rows of the BI view analytics.v1_monthly as one Parquet file",
        description="`period`: whole months (2026-11, 2026-Q4, 2026, or FROM..TO from a 1st to a "
        "month's end). One row per cube cell: the view's dimensions and measures, typed (dates, "
        "integers, text), in the view's column order.",
        responses=contract.answers(bytes, 401, media_type=PARQUET),
    )
    async def parquet(self, hub: Hub, analyst: str, period: str) -> Response[bytes]:
        chosen = parse_period(period)
        view = await anyio.to_thread.run_sync(analytics.monthly_view, hub, chosen)
        body = await anyio.to_thread.run_sync(exports.to_parquet, view)
        return _download(body, PARQUET, f"appeals-{chosen.label}.parquet")


@get(
    "/public/v1/open-data",
    summary="Appeals received per month, topic section and municipality; small counts hidden",
    description="`period`: whole months (2026-11, 2026-Q4, 2026, or FROM..TO from a 1st to a month's "
    "end); `format`: json or csv. A hidden count is null; row and column totals are exact.",
    tags=["Public"],
    security=contract.PUBLIC,
    responses=contract.answers(dict[str, Any]),
)
async def open_data(hub: Hub, period: str, format: str = "json") -> Any:
    if format not in ("json", "csv"):
        raise Rejection(Code.INVALID_REQUEST, "format must be json or csv", "/format")
    chosen = parse_period(period)
    published = await anyio.to_thread.run_sync(analytics.open_data, hub, chosen)
    records = published.records()
    if format == "csv":
        columns = ["month", "section", "section_name", "municipality", "municipality_name", "count"]
        return _download(analytics.csv_text(records, columns), CSV, f"open-data-{chosen.label}.csv")
    return {"period": chosen.label, "threshold": published.threshold, "records": records}
