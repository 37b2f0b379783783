"""``appeals-gateway report load-reference``, ``report show`` and ``report parquet`` as analysts
run them (the commands docs/analytics.md shows)."""

from __future__ import annotations

from datetime import date

import duckdb

from gateway.domain.analytics import MEASURES, Dimension, parse_period
from gateway.faces.reports import exports
from gateway.service import analytics
from tests.analytics_data import SAMPLES, make_appeals, region_today, this_month

CUBE_MEASURES = [m for m in MEASURES if m != "open_overdue"]


def test_the_reference_sample_loads_and_a_bad_file_changes_nothing(cli, hub, tmp_path):
    classifier, territories = SAMPLES / "classifier.sample.csv", SAMPLES / "territories.sample.csv"
    code, out, err = cli("report", "load-reference", "--classifier", str(classifier), "--territories",
                         str(territories))  # fmt: skip
    assert code == 0, err
    assert out.strip() == "classifier: 9 entries, territories: 4 entries"
    bad = tmp_path / "bad.csv"
    bad.write_text("code_prefix,name,level\n97,Чувашия,province\n", encoding="utf-8")
    code, _, err = cli("report", "load-reference", "--territories", str(bad))
    assert code == 1 and "refused" in err
    with hub.pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM analytics.territory").fetchone()["n"] == 4


def test_a_report_in_the_terminal(cli, hub, portal, dev_pki):
    make_appeals(hub, portal, dev_pki)
    code, out, err = cli("report", "show", "--period", this_month(), "--by", "municipality")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["municipality", "received"]
    assert any(line.startswith("город Чебоксары") and line.split()[2] == "4" for line in lines)
    assert lines[-1].split()[:2] == ["total", "6"]
    code, _, err = cli("report", "show", "--period", "someday", "--by", "municipality")
    assert code == 1 and "/period" in err


# The BI view's columns as an independent reader (DuckDB) types them from the Parquet file.
VIEW_TYPES = {"month": "DATE", "section_code": "VARCHAR", "question_code": "VARCHAR",
              "municipality_name": "VARCHAR", "agency_code": "VARCHAR", "result": "VARCHAR",
              "received": "BIGINT", "answered_on_time": "BIGINT", "rating_5": "BIGINT",
              "declined_repeated": "BIGINT"}  # fmt: skip


def test_a_period_of_the_bi_view_exported_to_parquet_reads_back_with_duckdb(
    cli, hub, portal, dev_pki, tmp_path
):
    make_appeals(hub, portal, dev_pki)
    out = tmp_path / "month.parquet"
    code, _, err = cli("report", "parquet", "--period", this_month(), "-o", str(out))
    assert code == 0, err
    with hub.pool.connection() as conn:
        view = conn.execute("SELECT * FROM analytics.v1_monthly WHERE month = %s",
                            [date.fromisoformat(this_month() + "-01")]).fetchall()  # fmt: skip
        view_columns = list(view[0])
    described = duckdb.sql(f"DESCRIBE SELECT * FROM '{out}'").fetchall()
    assert [c[0] for c in described] == view_columns  # the view's columns, in its order
    types = {c[0]: c[1] for c in described}
    assert {c: types[c] for c in VIEW_TYPES} == VIEW_TYPES
    assert (
        duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] == len(view) == 5
    )  # utilities × 3 results, housing, business
    total = exports.to_json(analytics.report(hub, parse_period(this_month()), (Dimension.SECTION,)))["total"]
    sums = ", ".join(f"sum({m})::BIGINT" for m in CUBE_MEASURES)
    assert duckdb.sql(f"SELECT {sums} FROM '{out}'").fetchall()[0] == tuple(total[m] for m in CUBE_MEASURES)
    assert total["received"] == 6 and total["rating_5"] == 1
    code, _, err = cli("report", "parquet", "--period", region_today(), "-o", str(tmp_path / "day.parquet"))
    assert code == 1 and "/period" in err and "whole months" in err
