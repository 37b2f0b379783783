"""``appeals-gateway demo`` against a hub process: the appeal's whole life as docs/overview.md promises it."""

from __future__ import annotations

import json
import re

from gateway.config import get_settings
from gateway.faces.cli.demo import run_demo
from tests.conftest import ANALYST_TOKEN, OPERATOR_TOKEN


def test_the_demo_plays_an_appeals_life_from_push_to_rating(
    hub_url, hub, settings, dev_pki, registry, tmp_path, capsys, monkeypatch, gost_ca
):
    (tmp_path / "pki").symlink_to(dev_pki.agency_key.parent)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "tokens.json").write_text(
        json.dumps({**registry[1], "operator": OPERATOR_TOKEN, "analyst": ANALYST_TOKEN})
    )

    monkeypatch.setenv("DATABASE_URL", settings.database_url)  # the poller's step files into it
    get_settings.cache_clear()
    try:  # no cabinet, SMTP server or SMSC here: those views are skipped (test_serve_dev has them)
        run_demo(hub_url, tmp_path, cabinet_url="http://127.0.0.1:9")
    finally:
        get_settings.cache_clear()

    out = capsys.readouterr().out
    gost_engine = gost_ca is not None  # the GOST engine is installed (else the demo says it skipped)
    statuses = [int(s) for s in re.findall(r"HTTP (\d{3})", out)]
    # pushes (new, repeat, legal entity, unrouted), the tampered one, the GOST-signed one (where the
    # OpenSSL GOST engine is), the answer's attachment, the rating, the agency's counts, the
    # collective and the repeated appeal, the paper appeal's lookup, the withdrawal, the
    # manual-routing queue and the assignment, the e-mailed appeal's registration and the other
    # e-mail's rejection
    gost_push = [201] if gost_engine else []
    assert statuses == [
        *[201, 200, 201, 201, 422],
        *gost_push,
        *[200, 201, 200, 201, 201, 200, 201, 200, 200, 200, 200],
    ]
    assert re.search(r"appeal \S+: 3 applicants, contact Сидорова \(esia co-subject-2\)", out)
    assert re.search(r"appeal \S+ repeats \S+ \(ОГ-\S+, answered\)", out)
    assert re.search(r"declined as repeated: state declined", out)
    assert re.search(r"created: access code \S+ \(printed on the receipt\)", out)
    assert "leased a feedback notice" in out and "rating 5" in out
    assert re.search(r"leased withdrawal .* \(appeal", out)
    assert "filed 2, quarantined 0, failed 0" in out and "identity e-mail" in out
    assert re.search(r"registered as ОГ-\d{4}/Э-\w{4}, answered: state answered", out)
    assert "no dev SMTP server or SMSC under var/dev (make run starts them): skipped" in out
    assert "Demo complete." in out
    month = re.search(r"written: (\S+report-(\d{4}-\d{2})\.html)", out)
    assert month and "<svg" in (tmp_path / "reports" / f"report-{month[2]}.html").read_text()
    assert (tmp_path / "reports" / f"report-{month[2]}.xlsx").read_bytes()[:2] == b"PK"
    # received: six pushes taken (new, legal entity, unrouted, GOST, collective, repeated; the GOST one
    # only where the engine is), the paper appeal, the e-mailed one; answered: the first and the e-mailed
    received = 8 if gost_engine else 7
    assert (
        f"{month[2]}: received {received}, answered 2, rated 1 (average 5.0), repeated 1 "
        "(declined as repeated 1), collective 1 (2 co-applicants)"
    ) in out
    # the first answer «supported-measures-taken», the e-mailed one «explained», the repeat declined
    categories = re.search(r"by result category: (.*)", out)
    assert categories, out
    counted = dict(item.rsplit(" ", 1) for item in categories[1].split(", "))
    assert {k: counted.get(k) for k in ("supported-measures-taken", "explained", "left-without-answer")} == {
        "supported-measures-taken": "1", "explained": "1", "left-without-answer": "1"
    }  # fmt: skip
    with hub.pool.connection() as conn:
        states = conn.execute("SELECT state, count(*) AS n FROM appeal GROUP BY state").fetchall()
        feedback = conn.execute("SELECT rating FROM appeal_feedback").fetchall()
    acknowledged = 2 if gost_engine else 1  # the collective appeal, and the GOST one, pulled and acknowledged
    assert {r["state"]: r["n"] for r in states} == {
        "answered": 2, "withdrawn": 1, "registered": 1, "acknowledged": acknowledged, "declined": 1
    }  # fmt: skip
    assert [r["rating"] for r in feedback] == [5]
