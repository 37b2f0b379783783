"""The analysts' reports through every face: REST (JSON, CSV, XLSX), the CLI, the HTML report seen
in headless Chromium, and the public open data — all telling the same numbers."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import httpx
import pytest
from openpyxl import load_workbook

from tests.analytics_data import (
    BUSINESS,
    HOUSING,
    UTILITIES,
    make_appeals,
    make_repeated_and_collective,
    push,
    this_month,
)
from tests.conftest import ANALYST_TOKEN, OPERATOR_TOKEN

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def client(hub_url) -> httpx.Client:
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        yield client


@pytest.fixture
def appeals(hub, portal, dev_pki):
    return make_appeals(hub, portal, dev_pki)


# The HTML report's figures of repeated and collective appeals (element id, the API's measure).
SHOWN_COUNTS = (
    ("total-repeated", "repeated"), ("note-repeated", "repeated"), ("total-collective", "collective"),
    ("note-collective", "collective"), ("note-co-applicants", "co_applicants"),
    ("note-declined-repeated", "declined_repeated"),
)  # fmt: skip


@pytest.fixture
def repeats(hub, portal, appeals):
    """Three more: an appeal, its repeat (linked, declined as repeated) and a collective one."""
    return make_repeated_and_collective(hub, portal)


def _as_analyst(client: httpx.Client, path: str, **params: str) -> httpx.Response:
    return client.get(path, params=params, headers={"Authorization": f"Bearer {ANALYST_TOKEN}"})


def test_reports_need_an_analysts_own_token(client, registry, appeals):
    path, params = "/analytics/v1/reports", {"period": this_month(), "by": "section"}
    assert _as_analyst(client, path, **params).status_code == 200
    agency_token = registry[1]["ADM-CHEBOKSARY"]
    for token in (OPERATOR_TOKEN, agency_token, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        refused = client.get(path, params=params, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")


@pytest.mark.parametrize(
    ("params", "pointer"),
    [({"period": "2026-13", "by": "section"}, "/period"), ({"period": "2026", "by": "colour"}, "/by"),
     ({"period": "2026", "by": "section", "format": "pdf"}, "/format")],
)  # fmt: skip
def test_a_bad_question_is_a_problem_naming_the_field(client, params, pointer):
    refused = _as_analyst(client, "/analytics/v1/reports", **params)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["code"], refused.json()["pointer"]) == ("invalid-request", pointer)


def test_the_api_the_cli_and_the_exports_agree(client, cli, repeats, tmp_path):
    period, by = this_month(), "section,result"
    api = _as_analyst(client, "/analytics/v1/reports", period=period, by=by).json()
    assert api["total"]["received"] == 9
    counts = ("repeated", "collective", "co_applicants", "declined_repeated")
    assert tuple(api["total"][m] for m in counts) == (1, 1, 2, 2)

    code, out, err = cli("report", "show", "--period", period, "--by", by, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["rows"] == api["rows"]

    api_csv = _as_analyst(client, "/analytics/v1/reports", period=period, by=by, format="csv").text
    code, cli_csv, _ = cli("report", "show", "--period", period, "--by", by, "--format", "csv")
    assert cli_csv == api_csv
    read = list(csv.DictReader(io.StringIO(api_csv)))
    assert int(read[0]["received"]) == api["rows"][0]["received"]
    assert [(int(r["repeated"]), int(r["collective"])) for r in read] == [
        (r["repeated"], r["collective"]) for r in api["rows"]
    ]

    xlsx = _as_analyst(client, "/analytics/v1/reports", period=period, by=by, format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    header, *body = list(sheet.values)
    received, repeated = header.index("received"), header.index("repeated")
    assert [row[received] for row in body[:-1]] == [r["received"] for r in api["rows"]]
    assert [row[repeated] for row in body[:-1]] == [r["repeated"] for r in api["rows"]]
    assert body[-1][0] == "total" and (body[-1][received], body[-1][repeated]) == (9, 1)

    code, table, _ = cli("report", "show", "--period", period, "--by", "section")
    assert code == 0 and "Жилищно-коммунальная сфера" in table
    header_line, total_line = table.splitlines()[1], table.splitlines()[-1]
    assert header_line.split()[-2:] == ["repeated", "collective"]
    assert total_line.split()[-2:] == ["1", "1"]


def test_the_html_report_shows_its_charts_and_the_apis_numbers_in_chromium(client, cli, repeats, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    period = this_month()
    page_html = _as_analyst(client, "/analytics/v1/report.html", period=period)
    assert page_html.headers["content-type"].startswith("text/html")
    assert "<script" not in page_html.text and "http://" not in page_html.text.replace(
        "http://www.w3.org/2000/svg", ""
    )
    report = tmp_path / "report.html"
    report.write_text(page_html.text, encoding="utf-8")
    code, _, err = cli("report", "html", "--period", period, "--out", str(tmp_path / "cli.html"))
    assert code == 0, err

    overview = _as_analyst(client, "/analytics/v1/overview", period=period).json()
    profile = tmp_path / "chromium-profile"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(  # an empty profile of its own
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            for html in (report, tmp_path / "cli.html"):
                page = browser.new_page()
                requests: list[str] = []
                page.on("request", lambda r, seen=requests: seen.append(r.url))
                page.goto(html.as_uri())
                for chart in ("topics", "territories", "timeliness", "satisfaction"):
                    box = page.locator(f"#chart-{chart} svg").bounding_box()
                    assert box and box["width"] > 100 and box["height"] > 40, chart
                bars = page.eval_on_selector_all(
                    "#chart-territories rect.bar",
                    "els => els.map(e => [e.dataset.label, Number(e.dataset.value), e.getBBox().width])",
                )
                api_rows = overview["municipalities"]["rows"]
                assert [(b[0], b[1]) for b in bars] == [
                    (r["municipality_name"] or r["municipality"], r["received"]) for r in api_rows
                ]
                assert all(width > 0 for *_, width in bars)
                shown = page.locator("#total-received").inner_text()
                assert int(shown) == overview["sections"]["total"]["received"] == 9
                total = overview["sections"]["total"]
                for shown_id, measure in SHOWN_COUNTS:
                    assert int(page.locator("#" + shown_id).inner_text()) == total[measure], shown_id
                assert (total["repeated"], total["collective"], total["co_applicants"]) == (1, 1, 2)
                repeated_cells = page.eval_on_selector_all(
                    "#table-sections tbody tr",
                    "rows => rows.map(r => [r.dataset.key, "
                    "r.querySelector('[data-measure=repeated]').textContent, "
                    "r.querySelector('[data-measure=collective]').textContent])",
                )
                sections = overview["sections"]["rows"]
                assert repeated_cells == [
                    [r["section"], str(r["repeated"]), str(r["collective"])] for r in sections
                ]
                cells = page.eval_on_selector_all(
                    "#table-agencies tbody tr",
                    "rows => rows.map(r => [r.dataset.key, "
                    "r.querySelector('[data-measure=answered_on_time]').textContent])",
                )
                assert cells == [
                    [r["agency"], str(r["answered_on_time"])] for r in overview["agencies"]["rows"]
                ]
                ratings = page.eval_on_selector_all(
                    "#chart-satisfaction rect.bar", "els => els.map(e => Number(e.dataset.value))"
                )
                assert ratings == [0, 0, 1, 0, 1]
                assert requests == [html.as_uri()]  # nothing fetched from anywhere
                page.close()
        finally:
            browser.close()
    shutil.rmtree(profile, ignore_errors=True)


def test_the_workbook_of_the_api_and_of_the_cli_hold_the_same_sheets(client, cli, appeals, tmp_path):
    period = this_month()
    api = _as_analyst(client, "/analytics/v1/overview", period=period, format="xlsx")
    out = tmp_path / "cli.xlsx"
    assert cli("report", "workbook", "--period", period, "--out", str(out))[0] == 0
    books = [load_workbook(io.BytesIO(api.content)), load_workbook(out)]
    assert books[0].sheetnames == books[1].sheetnames
    assert "agencies" in books[0].sheetnames
    for name in books[0].sheetnames:
        assert list(books[0][name].values) == list(books[1][name].values)


def test_the_parquet_export_of_the_api_holds_what_the_clis_holds(client, cli, repeats, tmp_path):
    period = this_month()
    api = _as_analyst(client, "/analytics/v1/export.parquet", period=period)
    assert api.status_code == 200, api.text
    assert api.headers["content-type"] == "application/vnd.apache.parquet"
    (tmp_path / "api.parquet").write_bytes(api.content)
    code, _, err = cli("report", "parquet", "--period", period, "-o", str(tmp_path / "cli.parquet"))
    assert code == 0, err
    read = [
        duckdb.sql(f"SELECT * FROM '{tmp_path / name}' ORDER BY ALL")
        for name in ("api.parquet", "cli.parquet")
    ]
    assert read[0].columns == read[1].columns and read[0].types == read[1].types
    rows = read[0].fetchall()
    assert rows == read[1].fetchall()
    assert len(rows) == 6  # make_appeals' 5 cube cells, and the repeats' unanswered utilities one
    refused = _as_analyst(client, "/analytics/v1/export.parquet", period=f"{period}-01..{period}-02")
    assert (refused.status_code, refused.json()["pointer"]) == (400, "/period")
    assert client.get("/analytics/v1/export.parquet", params={"period": period}).status_code == 401


# --- open data --------------------------------------------------------------------------------


def test_open_data_is_public_agrees_with_the_cli_and_hides_small_counts(client, cli, appeals):
    period = this_month()
    published = client.get("/public/v1/open-data", params={"period": period})
    assert published.status_code == 200
    body = published.json()
    assert body["threshold"] == 5
    cells = {(r["section"], r["municipality"]): r["count"] for r in body["records"]}
    # Five utilities and housing appeals, one business appeal: each cell is under 5, so hidden...
    assert cells[("0005", "97701")] is None and cells[("0003", "97701")] is None
    # ...while the totals stay exact.
    assert cells[("*", "*")] == 6 and cells[("0005", "*")] == 5

    api_csv = client.get("/public/v1/open-data", params={"period": period, "format": "csv"}).text
    code, cli_csv, err = cli("report", "open-data", "--period", period)
    assert code == 0, err
    assert cli_csv == api_csv
    refused = client.get("/public/v1/open-data", params={"period": f"{period}-02..{period}-03"})
    assert (refused.status_code, refused.json()["pointer"]) == (400, "/period")


def test_a_single_appeal_cannot_be_reidentified_from_the_published_tables(client, hub, portal, appeals):
    """The attacker knows one neighbour wrote about business (0003) from Cheboksary this month and
    wants to learn whether anyone else did, or — knowing the totals — to pin the lone appeal down:
    every published line with a hidden cell has at least two, so subtraction yields only sums."""
    more = [(UTILITIES, "97701000", 12), (HOUSING, "97610000", 8), (BUSINESS, "97610000", 6),
            (HOUSING, "97704000", 7), (BUSINESS, "97704000", 7)]  # fmt: skip
    seq = 10
    for topic, territory, n in more:
        for _ in range(n):
            seq += 1
            push(hub, portal, seq, topic, territory)
    body = client.get("/public/v1/open-data", params={"period": this_month()}).json()
    cells = {(r["section"], r["municipality"]): r["count"] for r in body["records"]}
    assert cells[("0003", "97701")] is None  # the lone business appeal
    assert (cells[("0005", "97704")], cells[("0003", "97704")]) == (7, 7)  # what needs no hiding shows
    assert cells[("0003", "*")] == 14 and cells[("*", "97701")] == 16
    inner = {k: v for k, v in cells.items() if "*" not in k}
    hidden = [k for k, v in inner.items() if v is None]
    feasible = _solutions(inner, cells, hidden)
    # The attacker's best: every assignment of the hidden cells that matches every published total.
    for n, key in enumerate(hidden):
        assert len({solution[n] for solution in feasible}) >= 2, f"{key} is determined by the totals"
    assert all(v >= 5 for v in inner.values() if v)


def _solutions(inner, cells, hidden) -> list[tuple[int, ...]]:
    """Brute force over the hidden cells' values (each at most its row's and column's total)."""
    import itertools

    bounds = [min(cells[(s, "*")], cells[("*", m)]) for s, m in hidden]
    found = []
    for values in itertools.product(*(range(b + 1) for b in bounds)):
        full = {**inner, **dict(zip(hidden, values, strict=True))}
        rows_ok = all(sum(v for (s, _), v in full.items() if s == r) == cells[(r, "*")]
                      for r in {s for s, _ in full})  # fmt: skip
        columns_ok = all(sum(v for (_, m), v in full.items() if m == c) == cells[("*", c)]
                         for c in {m for _, m in full})  # fmt: skip
        if rows_ok and columns_ok:
            found.append(values)
    assert found  # the true table is one of them
    return found
