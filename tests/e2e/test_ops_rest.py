"""The operators' REST face: the manual-routing queue and assignment, behind operators' own tokens."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.simulators.edms import Edms
from gateway.simulators.portal import push
from gateway.simulators.samples import sample_appeal
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
