"""The operators' REST face: the manual-routing queue and assignment, behind operators' own tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.simulators.edms import Edms
from gateway.simulators.portal import push
from gateway.simulators.samples import sample_appeal
from tests.answered import agency_today, answered_appeal
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
UNROUTABLE_TOPIC = "0001.0001.0001.0001"


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _unrouted(client, portal) -> str:
    receipt = push(client, portal.envelope(sample_appeal(1, topic_code=UNROUTABLE_TOPIC))).json()
    assert receipt["routed_to"] == "manual-routing"
    return receipt["appeal_id"]


def test_an_operator_lists_and_assigns_an_unrouted_appeal(client, hub, portal, registry):
    appeal_id = _unrouted(client, portal)
    queue = client.get("/ops/v1/manual-routing", headers=OPERATOR).json()["appeals"]
    assert [a["id"] for a in queue] == [appeal_id]
    assert queue[0]["topic_code"] == UNROUTABLE_TOPIC
    assert "applicant" not in queue[0] and "text" not in queue[0]

    response = client.post(
        f"/ops/v1/appeals/{appeal_id}/assign", json={"agency_code": "MINSTROY-21"}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    assert response.json()["routed_to"] == "MINSTROY-21"
    assert client.get("/ops/v1/manual-routing", headers=OPERATOR).json()["appeals"] == []
    (message,) = Edms(client, registry[1]["MINSTROY-21"]).pull()
    assert message["appeal_id"] == appeal_id
    with hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT actor, action, details->>'by' AS by FROM audit_record WHERE appeal_id = %s ORDER BY id",
            (appeal_id,),
        ).fetchall()
    assert [(a["action"], a["by"]) for a in audit] == [
        ("received", None),
        ("awaiting-manual-routing", None),
        ("routed", "operator"),
        ("leased", None),
    ]
    assert audit[2]["actor"].startswith("operator:")


def test_assignment_refusals(client, portal):
    appeal_id = _unrouted(client, portal)
    cases = [
        (appeal_id, {"agency_code": "NO-SUCH"}, 422, "agency-unknown"),
        (str(uuid.uuid4()), {"agency_code": "MINSTROY-21"}, 404, "not-found"),
        (appeal_id, {}, 400, "invalid-request"),
    ]
    for target, body, status, code in cases:
        response = client.post(f"/ops/v1/appeals/{target}/assign", json=body, headers=OPERATOR)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    ok = client.post(
        f"/ops/v1/appeals/{appeal_id}/assign", json={"agency_code": "MINSTROY-21"}, headers=OPERATOR
    )
    assert ok.status_code == 200
    again = client.post(
        f"/ops/v1/appeals/{appeal_id}/assign", json={"agency_code": "MINZDRAV-21"}, headers=OPERATOR
    )
    assert (again.status_code, again.json()["code"]) == (409, "illegal-transition")
    assert "routed" in again.json()["detail"]


def test_agency_credentials_do_not_open_the_ops_api(client, registry):
    for headers in ({}, {"Authorization": f"Bearer {registry[1]['MINSTROY-21']}"}):
        response = client.get("/ops/v1/manual-routing", headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


def test_health_endpoints_need_no_credentials(client):
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"] == {"ok": True, "detail": "current"}


# --- watching the queues, and the fixes --------------------------------------------------------


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "GATEWAY_DATA_DIR": str(settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli.main", "ops", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _mailbox(client, code: str) -> dict:
    agencies = client.get("/ops/v1/mailboxes", headers=OPERATOR).json()["agencies"]
    return next(a for a in agencies if a["agency_code"] == code)


def test_an_operator_sees_a_stuck_mailbox_and_fixes_it_over_rest(client, portal, registry):
    edms = Edms(client, registry[1]["ADM-CHEBOKSARY"])
    appeal_ids = [push(client, portal.envelope(sample_appeal(n))).json()["appeal_id"] for n in (1, 2)]
    refused, held = edms.pull(limit=2)
    assert edms.ack_one(refused["message_id"], refused["lease_token"], False, "no executor") == "refused"
    box = _mailbox(client, "ADM-CHEBOKSARY")
    assert (box["pending"], box["leased"], box["refused"], box["redelivered"]) == (0, 1, 1, 0)
    assert box["last_pull_at"] and box["last_ack_at"]
    assert _mailbox(client, "MINSTROY-21")["last_pull_at"] is None

    for action, message in (("release", held), ("requeue", refused)):
        response = client.post(f"/ops/v1/messages/{message['message_id']}/{action}", headers=OPERATOR)
        assert response.json() == {"message_id": message["message_id"], "appeal_id": message["appeal_id"],
                                   "status": "pending"}, response.text  # fmt: skip
    again = client.post(f"/ops/v1/messages/{held['message_id']}/release", headers=OPERATOR)
    assert (again.status_code, again.json()["code"]) == (409, "illegal-transition")
    assert "pending, not leased" in again.json()["detail"]
    assert {m["appeal_id"] for m in edms.pull(limit=10)} == set(appeal_ids)
    assert _mailbox(client, "ADM-CHEBOKSARY")["redelivered"] == 2

    (story,) = client.get("/ops/v1/timeline", params={"ref": held["appeal_id"]}, headers=OPERATOR).json()[
        "appeals"
    ]
    assert "lease-released" in [a["action"] for a in story["audit"]]
    assert client.get("/ops/v1/timeline", params={"ref": "nothing"}, headers=OPERATOR).status_code == 404
    assert client.get("/ops/v1/deliveries", headers=OPERATOR).json() == {
        "connectors": [],
        "stuck": [],
        "undelivered_sms": [],
    }
    replay = client.post("/ops/v1/deliveries/999999/replay", headers=OPERATOR)
    assert (replay.status_code, replay.json()["code"]) == (409, "illegal-transition")
    broker = client.get("/ops/v1/broker", headers=OPERATOR).json()
    transport = "amqp" if os.environ.get("BROKER_URL") else "filesystem"  # what the hub process got
    assert (broker["transport"], broker["reachable"], broker["queues"][0]["name"]) == (
        transport,
        True,
        "deliveries",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/ops/v1/mailboxes"), ("GET", "/ops/v1/deliveries"), ("GET", "/ops/v1/broker"),
     ("GET", "/ops/v1/timeline?ref=x"), ("GET", "/ops/v1/feedback"),
     ("POST", "/ops/v1/deliveries/1/replay"), ("POST", f"/ops/v1/messages/{uuid.uuid4()}/release"),
     ("POST", f"/ops/v1/messages/{uuid.uuid4()}/requeue")],
)  # fmt: skip
def test_every_ops_call_needs_an_operators_credentials(client, registry, method, path):
    for headers in ({}, {"Authorization": f"Bearer {registry[1]['ADM-CHEBOKSARY']}"}):
        response = client.request(method, path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


def test_the_ops_cli_shows_the_same_views_and_explains_refusals(client, portal, registry, settings):
    receipt = push(client, portal.envelope(sample_appeal(1))).json()
    (message,) = Edms(client, registry[1]["ADM-CHEBOKSARY"]).pull(limit=1)

    overview = _cli(settings, "queues")
    assert overview.returncode == 0, overview.stderr
    row = next(line.split() for line in overview.stdout.splitlines() if line.startswith("ADM-CHEBOKSARY"))
    assert row[:6] == ["ADM-CHEBOKSARY", "pull", "0", "-", "1", "0"]  # pending, oldest, leased, redelivered
    assert "never" in next(line for line in overview.stdout.splitlines() if line.startswith("MINSTROY-21"))

    story = _cli(settings, "timeline", receipt["appeal_id"])
    assert story.returncode == 0 and "leased" in story.stdout and message["message_id"] in story.stdout

    released = _cli(settings, "release", message["message_id"])
    assert released.returncode == 0 and "pending again" in released.stdout
    refused = _cli(settings, "requeue", message["message_id"])
    assert refused.returncode == 1
    assert refused.stderr.strip() == "illegal-transition: the message is pending, not refused (/message_id)"


def test_an_operator_lists_and_dispatches_an_answer_to_send_by_post(client, hub, portal, dev_pki):
    """The list with the envelope's name and address, the mark of one posted, and the refusals."""
    appeal_id = str(answered_appeal(hub, portal, dev_pki, "ОГ-П1"))
    (waiting,) = client.get("/ops/v1/postal-answers", headers=OPERATOR).json()["answers"]
    assert (waiting["appeal_id"], waiting["registration_number"]) == (appeal_id, "ОГ-П1")
    assert waiting["postal_address"]["postcode"] == "428000"
    assert client.get("/ops/v1/postal-answers", headers={"Authorization": "Bearer nope"}).status_code == 401
    wrong = client.get("/ops/v1/postal-answers", params={"state": "lost"}, headers=OPERATOR)
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["pointer"]) == (
        400,
        "invalid-request",
        "/state",
    )

    url = f"/ops/v1/postal-answers/{appeal_id}/dispatch"
    body = {"dispatched_on": agency_today(), "tracking_number": "42800012345678"}
    bad = client.post(url, json={**body, "tracking_number": "12345"}, headers=OPERATOR)
    assert (bad.status_code, bad.json()["code"], bad.json()["pointer"]) == (
        400,
        "invalid-request",
        "/tracking_number",
    )
    done = client.post(url, json=body, headers=OPERATOR)
    assert done.status_code == 200, done.text
    assert done.json()["appeal_id"] == appeal_id
    assert (done.json()["dispatched_on"], done.json()["tracking_number"]) == (
        body["dispatched_on"],
        "42800012345678",
    )
    again = client.post(url, json=body, headers=OPERATOR)
    assert (again.status_code, again.json()["code"]) == (409, "already-dispatched")
    assert client.get("/ops/v1/postal-answers", headers=OPERATOR).json()["answers"] == []
    (posted,) = client.get("/ops/v1/postal-answers", params={"state": "dispatched"}, headers=OPERATOR).json()[
        "answers"
    ]
    assert posted["tracking_number"] == "42800012345678"
    missing = client.post(f"/ops/v1/postal-answers/{uuid.uuid4()}/dispatch", json=body, headers=OPERATOR)
    assert (missing.status_code, missing.json()["code"]) == (404, "not-found")
