"""The agencies' REST face over a real socket: lease, acknowledge, refuse, attachments, events."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import httpx
import pytest

from gateway.simulators.edms import Edms, Refused
from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.conftest import CLIENT_CERT_SHA256, OPERATOR_TOKEN
from tests.e2e.pushing import push_samples as _push

CHEBOKSARY = "ADM-CHEBOKSARY"


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


@pytest.fixture
def edms(client, registry):
    return Edms(client, registry[1][CHEBOKSARY])


@pytest.fixture
def other_edms(client, registry):
    return Edms(client, registry[1]["MINSTROY-21"])


def test_rest_answers_with_http_statuses(client, portal, edms, other_edms):
    """The scenario table (test_mailbox_faces) compares codes on both faces; here, REST's statuses."""
    (appeal_id,) = _push(client, portal)
    (message,) = edms.pull()
    for attempt, status, code in (
        (lambda: edms.ack_one(message["message_id"], str(uuid.uuid4())), 409, "lease-invalid"),
        (lambda: edms.ack_one(str(uuid.uuid4()), message["lease_token"]), 404, "not-found"),
        (lambda: other_edms.ack_one(message["message_id"], message["lease_token"]), 404, "not-found"),
        (lambda: other_edms.register(appeal_id, "1", date.today(), "e-1"), 404, "not-found"),
    ):
        with pytest.raises(Refused) as refused:
            attempt()
        assert (refused.value.status, refused.value.code) == (status, code)
    body = {
        "event_id": "e-1",
        "type": "registered",
        "registration_number": "ОГ-1",
        "registered_on": str(date.today()),
    }
    auth = {"Authorization": f"Bearer {edms.token}"}
    first = client.post(f"/sed/v1/appeals/{appeal_id}/events", json=body, headers=auth)
    again = client.post(f"/sed/v1/appeals/{appeal_id}/events", json=body, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200)


def test_attachments_stream_with_http_headers(client, portal, edms):
    """Content checks run on both faces in test_mailbox_faces; here, what only HTTP carries."""
    scan = bytes(range(256)) * 12_000  # ~3 MB: several storage chunks
    header = attachment_header("scan-1", "акт проверки.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    push(client, envelope, {"scan-1": (header.file_name, scan, "application/pdf")})
    (message,) = edms.pull()
    (ref,) = message["attachments"]
    response = client.get(ref["href"], headers={"Authorization": f"Bearer {edms.token}"})
    assert response.content == scan
    assert response.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    assert (
        response.headers["repr-digest"]
        == "sha-256=:" + base64.b64encode(bytes.fromhex(header.sha256)).decode() + ":"
    )
    with pytest.raises(Refused) as missing:
        edms.download(ref["href"].replace("/1", "/2"))
    assert missing.value.code == "not-found"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"event_id": "e", "type": "registered", "registered_on": "2026-01-01"}, "/registration_number"),
        ({"event_id": "e", "type": "teleported"}, "/type"),
        ({"event_id": "e", "type": "registered", "registration_number": "1", "registered_on": "2999-01-01"},
         "/registered_on"),
        ({"type": "registered"}, None),
    ],
)  # fmt: skip
def test_bad_events_are_refused_with_the_field_at_fault(client, hub, portal, edms, body, pointer):
    (appeal_id,) = _push(client, portal)
    response = client.post(
        f"/sed/v1/appeals/{appeal_id}/events", json=body, headers={"Authorization": f"Bearer {edms.token}"}
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "invalid-request"
    if pointer:
        assert problem["pointer"] == pointer
    with hub.pool.connection() as conn:
        recorded = conn.execute("SELECT face, code, status FROM request_refusal").fetchall()
    assert recorded == [{"face": "sed", "code": "invalid-request", "status": 400}]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {OPERATOR_TOKEN}"},  # operators are not agencies
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_agencies_must_authenticate(client, headers):
    response = client.get("/sed/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_forwarded_client_certificate_identifies_its_agency(client, portal):
    _push(client, portal, topic_code="0003.0009.0001.0001")  # health: CERT_AGENCY's topic
    fingerprint = ":".join(CLIENT_CERT_SHA256[i : i + 2].upper() for i in range(0, 64, 2))
    response = client.get("/sed/v1/messages", headers={"X-Client-Cert-Sha256": fingerprint})
    assert response.status_code == 200, response.text
    (message,) = response.json()["messages"]
    assert message["appeal"]["topic_code"].startswith("0003.0009")


@pytest.mark.parametrize(
    ("params", "pointer"),
    [({"limit": 0}, "/limit"), ({"limit": 100_000}, "/limit"), ({"limit": "x"}, "/limit")],
)
def test_bad_pull_parameters(client, edms, params, pointer):
    response = client.get(
        "/sed/v1/messages", params=params, headers={"Authorization": f"Bearer {edms.token}"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid-request"
