"""Public status lookup by registration number and access code, over a real socket."""

from __future__ import annotations

from datetime import date

import httpx
import jsonschema
import pytest

from gateway.simulators.edms import Edms
from tests.e2e.pushing import push_samples


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _assert_as_documented(client, path: str, body: dict) -> None:
    """The answer is what the OpenAPI document says a 200 of ``path`` is (schemathesis never gets one:
    it knows no number and code)."""
    document = client.get("/schema/openapi.json").json()
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(body)


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
    _assert_as_documented(client, "/public/v1/status", body)
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


def test_lookups_are_rate_limited(client):
    """Last in this file: it spends the minute's allowance of this client address."""
    statuses = [
        client.get("/public/v1/status", params={"number": "x", "code": "y"}).status_code for _ in range(40)
    ]
    assert 429 in statuses
    limited = client.get("/public/v1/status", params={"number": "x", "code": "y"})
    assert (limited.status_code, limited.json()["code"]) == (429, "too-many-requests")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Limit"]) > 0
    assert limited.headers["Retry-After"] == str(max(int(limited.headers["RateLimit-Reset"]), 1))
