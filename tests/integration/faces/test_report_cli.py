"""``appeals-gateway report load-reference`` and ``report show`` as analysts run them (the commands
docs/analytics.md shows)."""

from __future__ import annotations

from tests.analytics_data import SAMPLES, make_appeals, this_month


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
