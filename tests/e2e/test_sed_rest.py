"""The agencies' REST face over a real socket: lease, acknowledge, refuse, attachments, events."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date

import httpx
import pytest

from gateway.simulators.edms import Edms, Refused, signed_answer
from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal
from tests.conftest import CLIENT_CERT_SHA256, OPERATOR_TOKEN
from tests.e2e.conftest import hub_env, hub_process
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
        ({"event_id": 5, "type": "closed"}, "/event_id"),
        ({"event_id": "e", "type": "answered"}, "/answer"),  # an answer is multipart, with its parts
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


def test_a_client_certificate_header_from_a_peer_that_is_no_trusted_proxy_is_ignored(
    settings, session_hub, tmp_path
):
    """A node reached directly, not through its proxy: the same header is the caller's own claim."""
    env = hub_env(settings, GATEWAY_TRUSTED_PROXIES='["192.0.2.10"]')  # the proxy; not 127.0.0.1
    with hub_process(env, tmp_path / "hub.log") as url:
        response = httpx.get(url + "/sed/v1/messages", headers={"X-Client-Cert-Sha256": CLIENT_CERT_SHA256})
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


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


# --- the answered event: multipart ------------------------------------------------------------


def _parts(event: dict | str, *answers: bytes, **files: bytes) -> list[tuple[str, tuple]]:
    """Multipart parts as httpx takes them (a list, so a name may come twice)."""
    body = event if isinstance(event, str) else json.dumps(event)
    parts = [("event", (None, body, "application/json"))]
    parts += [("answer", ("answer.xml", answer, "application/xml")) for answer in answers]
    return parts + [(cid, (cid + ".pdf", data, "application/pdf")) for cid, data in files.items()]


@pytest.fixture
def registered(client, portal, edms) -> str:
    (appeal_id,) = _push(client, portal)
    edms.register(appeal_id, "ОГ-1", date.today(), "reg-1")
    return appeal_id


@pytest.fixture
def signer(dev_pki) -> tuple[bytes, bytes]:
    return dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()


def test_an_answer_is_multipart_and_answers_with_http_statuses(client, edms, registered, signer):
    act = b"%PDF-1.7 act"
    signed = signed_answer(sample_answer(registered, "ОГ-1", files={"act-1": act}), *signer)
    url, auth = f"/sed/v1/appeals/{registered}/events", {"Authorization": f"Bearer {edms.token}"}
    event = {"event_id": "ans-1", "type": "answered"}
    first = client.post(url, files=_parts(event, signed, **{"act-1": act}), headers=auth)
    again = client.post(url, files=_parts(event, signed, **{"act-1": act}), headers=auth)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["state"] == "answered"
    other = signed_answer(sample_answer(uuid.uuid4(), "ОГ-1"), *signer)
    for event_id, answer, status, code in (
        ("ans-1", other, 409, "event-id-reused"),
        ("ans-2", other, 409, "illegal-transition"),
    ):
        response = client.post(url, files=_parts({**event, "event_id": event_id}, answer), headers=auth)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code


def test_an_answer_signed_for_another_appeal_is_unprocessable(client, edms, registered, signer):
    other = signed_answer(sample_answer(uuid.uuid4(), "ОГ-1"), *signer)
    response = client.post(
        f"/sed/v1/appeals/{registered}/events",
        files=_parts({"event_id": "ans-1", "type": "answered"}, other),
        headers={"Authorization": f"Bearer {edms.token}"},
    )
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["pointer"]) == (
        "answer-mismatch",
        "/answer/Document/AppealId",
    )


ANSWERED = {"event_id": "ans-1", "type": "answered"}


@pytest.mark.parametrize(
    ("parts", "code", "pointer"),
    [
        (_parts(ANSWERED), "malformed-multipart", None),
        (_parts(ANSWERED, b"<a/>", b"<b/>"), "malformed-multipart", None),
        (_parts({"event_id": "r-1", "type": "registered", "registration_number": "ОГ-2",
                 "registered_on": "2026-01-01"}, b"<a/>"), "invalid-request", "/type"),
        (_parts("not json", b"<a/>"), "invalid-request", None),
        (_parts({"event_id": 7, "type": "answered"}, b"<a/>"), "invalid-request", "/event_id"),
        (_parts({"type": "answered"}, b"<a/>"), "invalid-request", "/event_id"),
    ],
    ids=["no-answer-part", "two-answer-parts", "not-an-answer-event", "event-not-json", "event-id-type",
         "no-event-id"],
)  # fmt: skip
def test_bad_multipart_answers_are_client_errors(client, hub, edms, registered, parts, code, pointer):
    response = client.post(
        f"/sed/v1/appeals/{registered}/events", files=parts, headers={"Authorization": f"Bearer {edms.token}"}
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["code"], problem.get("pointer")) == (code, pointer)
    with hub.pool.connection() as conn:
        recorded = conn.execute("SELECT face, code FROM request_refusal").fetchall()
    assert recorded == [{"face": "sed", "code": code}]


def test_the_events_call_documents_both_bodies(client):
    spec = client.get("/schema/openapi.json").json()
    body = spec["paths"]["/sed/v1/appeals/{appeal_id}/events"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["multipart/form-data"]["schema"]["required"] == ["event", "answer"]
    portal = spec["paths"]["/portal/v1/appeals/{appeal_id}/answer/attachments/{content_id}"]
    assert "get" in portal
