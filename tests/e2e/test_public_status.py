"""Public status lookup by registration number and access code, over a real socket."""

from __future__ import annotations

import time
from datetime import date

import httpx
import pytest

from gateway.simulators.edms import Edms
from tests.e2e.conftest import hub_env, hub_process
from tests.e2e.pushing import push_samples


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _registered_with_code(client, hub, portal, registry, number: str) -> tuple[str, str]:
    (appeal_id,) = push_samples(client, portal)
    edms = Edms(client, registry[1]["ADM-CHEBOKSARY"])
    edms.register(appeal_id, number, date.today(), "reg-" + number)
    edms.send_event(appeal_id, "assigned", "as-" + number, executor="Иванов И. И., отдел ЖКХ")
    with hub.pool.connection() as conn:
        update = conn.execute(
            "SELECT payload FROM outbox_message WHERE appeal_id = %s AND seq = 1", (appeal_id,)
        ).fetchone()["payload"]
        stored = conn.execute("SELECT access_code_sha256 FROM appeal WHERE id = %s", (appeal_id,)).fetchone()[
            "access_code_sha256"
        ]
    code = update["access_code"]  # the applicant reads it in the cabinet
    assert code not in stored and len(stored) == 64
    return appeal_id, code


def test_the_code_from_the_cabinet_shows_the_status_without_personal_data(client, hub, portal, registry):
    _, code = _registered_with_code(client, hub, portal, registry, "ОГ-501")
    spaced = f"{code[:5].lower()}-{code[5:]}"  # as people type it
    response = client.get("/public/v1/status", params={"number": "ОГ-501", "code": spaced})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["registration_number"], body["state"]) == ("ОГ-501", "in-progress")
    assert body["agency"]["code"] == "ADM-CHEBOKSARY"
    assert body["answer_by"] is not None
    assert [(h["seq"], h["type"]) for h in body["history"]] == [(1, "registered"), (2, "assigned")]
    text = response.text
    for personal in ("Петрова", "Анна", "applicant@example.org", "+7900", "Примерная", "Иванов", code):
        assert personal not in text
    with hub.pool.connection() as conn:
        logged = conn.execute(
            "SELECT count(*) AS n FROM audit_record WHERE details::text LIKE %s", (f"%{code}%",)
        )
        assert logged.fetchone()["n"] == 0


def test_a_wrong_number_and_a_wrong_code_look_the_same(client, hub, portal, registry):
    _, code = _registered_with_code(client, hub, portal, registry, "ОГ-502")
    wrong_code = client.get("/public/v1/status", params={"number": "ОГ-502", "code": "2345678ABC"})
    wrong_number = client.get("/public/v1/status", params={"number": "ОГ-999", "code": code})
    assert wrong_code.status_code == wrong_number.status_code == 404
    assert wrong_code.json() == wrong_number.json()
    missing = client.get("/public/v1/status", params={"number": "ОГ-502"})
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid-request")


def _early_in_a_minute() -> None:
    """The limit counts per minute of the clock: a burst must not straddle two."""
    while time.time() % 60 > 55:
        time.sleep(0.5)


def test_lookups_are_rate_limited(client):
    """From an address of its own (forwarded by 127.0.0.1, a trusted proxy by default), so the
    allowance it spends is no other test's."""
    spender = {"X-Forwarded-For": "203.0.113.201"}
    _early_in_a_minute()
    statuses = [
        client.get("/public/v1/status", params={"number": "x", "code": "y"}, headers=spender).status_code
        for _ in range(40)
    ]
    assert statuses.count(404) == 30 and statuses.count(429) == 10  # GATEWAY_STATUS_LOOKUPS_PER_MINUTE
    limited = client.get("/public/v1/status", params={"number": "x", "code": "y"}, headers=spender)
    assert (limited.status_code, limited.json()["code"]) == (429, "too-many-requests")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60 and limited.headers["RateLimit-Remaining"] == "0"
    other = client.get("/public/v1/status", params={"number": "x", "code": "y"})
    assert other.status_code == 404  # 127.0.0.1 itself still has its allowance


def test_the_limit_holds_across_two_hub_nodes_sharing_one_database(settings, session_hub, tmp_path):
    """Two hub processes, as two nodes behind a balancer that spreads one client's lookups: the
    client gets the limit once between them, not once from each."""
    env = hub_env(settings, GATEWAY_STATUS_LOOKUPS_PER_MINUTE="6")
    with (
        hub_process(env, tmp_path / "node-1.log") as node_1,
        hub_process(env, tmp_path / "node-2.log") as node_2,
    ):
        _early_in_a_minute()
        statuses = []
        for i in range(20):
            url = (node_1, node_2)[i % 2] + "/public/v1/status"
            forwarded = {"X-Forwarded-For": "203.0.113.202"}
            answer = httpx.get(url, params={"number": "x", "code": "y"}, headers=forwarded)
            statuses.append(answer.status_code)
    assert (statuses.count(404), statuses.count(429)) == (6, 14)
    assert statuses[:6] == [404] * 6  # the first six, three through each node
