"""``appeals-gateway demo`` against a hub process: the appeal's whole life as the README promises it."""

from __future__ import annotations

import json
import re

from gateway.faces.cli.demo import run_demo
from tests.conftest import ANALYST_TOKEN, OPERATOR_TOKEN


def test_the_demo_plays_an_appeals_life_from_push_to_rating(
    hub_url, hub, dev_pki, registry, tmp_path, capsys
):
    (tmp_path / "pki").symlink_to(dev_pki.agency_key.parent)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "tokens.json").write_text(
        json.dumps({**registry[1], "operator": OPERATOR_TOKEN, "analyst": ANALYST_TOKEN})
    )

    run_demo(hub_url, tmp_path, cabinet_url="http://127.0.0.1:9")  # no cabinet here: that step is skipped

    out = capsys.readouterr().out
    statuses = [int(s) for s in re.findall(r"HTTP (\d{3})", out)]
    # pushes (new, repeat, legal entity, unrouted), the tampered one, the answer's attachment, the
    # rating, the agency's counts, the paper appeal's lookup, the withdrawal, the manual-routing
    # queue and the assignment
    assert statuses == [201, 200, 201, 201, 422, 200, 201, 200, 200, 201, 200, 200]
    assert re.search(r"created: access code \S+ \(printed on the receipt\)", out)
    assert "leased a feedback notice" in out and "rating 5" in out
    assert re.search(r"leased withdrawal .* \(appeal", out)
    assert "Demo complete." in out
    month = re.search(r"written: (\S+report-(\d{4}-\d{2})\.html)", out)
    assert month and "<svg" in (tmp_path / "reports" / f"report-{month[2]}.html").read_text()
    assert (tmp_path / "reports" / f"report-{month[2]}.xlsx").read_bytes()[:2] == b"PK"
    assert f"{month[2]}: received 4, answered 1, rated 1 (average 5.0)" in out
    with hub.pool.connection() as conn:
        states = conn.execute("SELECT state, count(*) AS n FROM appeal GROUP BY state").fetchall()
        feedback = conn.execute("SELECT rating FROM appeal_feedback").fetchall()
    assert {r["state"]: r["n"] for r in states} == {"answered": 1, "withdrawn": 1, "registered": 1}
    assert [r["rating"] for r in feedback] == [5]
