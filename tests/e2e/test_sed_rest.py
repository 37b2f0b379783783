"""The agencies' REST face over a real socket: lease, acknowledge, refuse, attachments, events."""

from __future__ import annotations

import base64
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest

from gateway.simulators.edms import Edms, Refused
from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.conftest import CERT_AGENCY, CLIENT_CERT_SHA256, OPERATOR_TOKEN

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


def _push(client, portal, n: int = 1, **kwargs) -> list[str]:
    ids = []
    for i in range(n):
        response = push(client, portal.envelope(sample_appeal(i, **kwargs)))
        assert response.status_code == 201, response.text
        ids.append(response.json()["appeal_id"])
    return ids


def _audit(hub, appeal_id: str) -> list[str]:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
        ).fetchall()
    return [r["action"] for r in rows]


def _state(hub, appeal_id: str) -> str:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT state FROM appeal WHERE id = %s", (appeal_id,)).fetchone()["state"]


def test_pull_gives_the_appeal_as_data_and_as_the_signed_bytes(client, hub, portal, edms):
    envelope = portal.envelope(sample_appeal(1))
    appeal_id = push(client, envelope).json()["appeal_id"]
    (message,) = edms.pull(limit=10)
    assert message["appeal_id"] == appeal_id
    assert message["kind"] == "appeal"
    assert message["delivery_count"] == 1
    assert base64.b64decode(message["signed_xml_base64"]) == envelope
    assert message["appeal"]["topic_code"] == "0005.0005.0056.1149"
    assert message["appeal"]["applicant"]["person"]["last_name"] == "Петрова"
    assert _state(hub, appeal_id) == "delivered"
    assert edms.pull(limit=10) == []  # leased: not offered again while the lease runs
    assert edms.ack([message]) == [{"message_id": message["message_id"], "status": "acknowledged"}]
    assert _state(hub, appeal_id) == "acknowledged"
    assert _audit(hub, appeal_id) == ["received", "routed", "leased", "acknowledged"]


def test_pull_is_oldest_first_and_limited(client, portal, edms):
    ids = _push(client, portal, 5)
    first = edms.pull(limit=3)
    second = edms.pull(limit=3)
    assert [m["appeal_id"] for m in first + second] == ids
    assert edms.statistics() == {"pending": 0, "leased": 5, "refused": 0, "oldest_pending_age_s": 0}


def test_acks_are_idempotent_and_check_the_lease(client, portal, edms):
    _push(client, portal)
    (message,) = edms.pull()
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"
    with pytest.raises(Refused) as wrong_token:
        edms.ack_one(message["message_id"], str(uuid.uuid4()))
    assert (wrong_token.value.status, wrong_token.value.code) == (409, "lease-invalid")
    with pytest.raises(Refused) as unknown:
        edms.ack_one(str(uuid.uuid4()), message["lease_token"])
    assert (unknown.value.status, unknown.value.code) == (404, "not-found")
    assert edms.pull() == []


def test_an_expired_lease_makes_the_message_pending_again(client, portal, edms):
    _push(client, portal)
    (first,) = edms.pull(lease_seconds=1)
    time.sleep(1.3)
    (again,) = edms.pull(lease_seconds=60)
    assert again["message_id"] == first["message_id"]
    assert again["delivery_count"] == 2
    assert again["lease_token"] != first["lease_token"]
    results = edms.ack([first])
    assert results[0]["status"] == "lease-invalid"  # the stale lease cannot take it any more
    assert edms.ack([again])[0]["status"] == "acknowledged"


def test_concurrent_pullers_never_share_a_message(client, portal, registry, hub_url):
    ids = set(_push(client, portal, 30))

    def drain(_: int) -> list[str]:
        taken = []
        with httpx.Client(base_url=hub_url, timeout=30) as own:
            puller = Edms(own, registry[1][CHEBOKSARY])
            while batch := puller.pull(limit=4):
                taken += [m["appeal_id"] for m in batch]
                puller.ack(batch)
        return taken

    with ThreadPoolExecutor(6) as pool:
        per_puller = list(pool.map(drain, range(6)))
    everything = [appeal for taken in per_puller for appeal in taken]
    assert len(everything) == len(set(everything)) == 30
    assert set(everything) == ids


def test_a_refused_message_is_not_redelivered_and_is_counted(client, hub, portal, edms):
    (appeal_id,) = _push(client, portal)
    (message,) = edms.pull()
    with pytest.raises(Refused) as no_reason:
        edms.ack_one(message["message_id"], message["lease_token"], accepted=False)
    assert (no_reason.value.code, no_reason.value.pointer) == ("invalid-request", "/acks/0/reason")
    status = edms.ack_one(
        message["message_id"], message["lease_token"], accepted=False, reason="не наш вопрос"
    )
    assert status == "refused"
    assert edms.pull() == []
    assert edms.statistics()["refused"] == 1
    assert _audit(hub, appeal_id)[-1] == "refused-by-edms"
    with hub.pool.connection() as conn:
        row = conn.execute("SELECT refused_reason FROM mailbox_message").fetchone()
    assert row["refused_reason"] == "не наш вопрос"


def test_batch_ack_reports_each_message(client, portal, edms):
    _push(client, portal, 2)
    good, other = edms.pull(limit=2)
    stranger = {"message_id": str(uuid.uuid4()), "lease_token": other["lease_token"]}
    stale = {**other, "lease_token": str(uuid.uuid4())}
    results = edms.ack([good, stranger, stale])
    assert [r["status"] for r in results] == ["acknowledged", "not-found", "lease-invalid"]


def test_an_agency_never_sees_another_agencys_messages_or_appeals(client, portal, edms, other_edms):
    scan = b"scan" * 1000
    header = attachment_header("scan-1", "scan.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    appeal_id = push(client, envelope, {"scan-1": ("scan.pdf", scan, "application/pdf")}).json()["appeal_id"]
    assert other_edms.pull(limit=50) == []
    (message,) = edms.pull()
    for attempt in (
        lambda: other_edms.ack_one(message["message_id"], message["lease_token"]),
        lambda: other_edms.download(f"/sed/v1/appeals/{appeal_id}/attachments/1"),
        lambda: other_edms.register(appeal_id, "1", date.today(), "e-1"),
    ):
        with pytest.raises(Refused) as refused:
            attempt()
        assert (refused.value.status, refused.value.code) == (404, "not-found")
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"


def test_attachments_stream_with_their_digest(client, portal, edms):
    scan = bytes(range(256)) * 12_000  # ~3 MB: several storage chunks
    header = attachment_header("scan-1", "акт проверки.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    push(client, envelope, {"scan-1": (header.file_name, scan, "application/pdf")})
    (message,) = edms.pull()
    (ref,) = message["attachments"]
    assert ref == {
        "n": 1,
        "file_name": "акт проверки.pdf",
        "media_type": "application/pdf",
        "size": len(scan),
        "sha256": header.sha256,
        "href": f"/sed/v1/appeals/{message['appeal_id']}/attachments/1",
    }
    assert edms.download(ref["href"]) == (len(scan), header.sha256)
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


def test_registration_is_recorded_once_per_event_id(client, hub, portal, edms):
    appeal_id, second_id = _push(client, portal, 2)
    first = edms.register(appeal_id, "ОГ-2026/1", date.today(), "evt-1")
    assert (first["seq"], first["state"], first["repeated"]) == (1, "registered", False)
    repeat = edms.register(appeal_id, "ОГ-2026/1", date.today(), "evt-1")
    assert (repeat["seq"], repeat["repeated"]) == (1, True)
    for number, event_id, code in (
        ("ОГ-2026/2", "evt-1", "event-id-reused"),
        ("ОГ-2026/2", "evt-2", "illegal-transition"),
    ):
        with pytest.raises(Refused) as refused:
            edms.register(appeal_id, number, date.today(), event_id)
        assert (refused.value.status, refused.value.code) == (409, code)
    with pytest.raises(Refused) as taken:
        edms.register(second_id, "ОГ-2026/1", date.today(), "evt-3")
    assert taken.value.code == "registration-number-taken"
    with hub.pool.connection() as conn:
        row = conn.execute(
            "SELECT registration_number, registered_on, state FROM appeal WHERE id = %s", (appeal_id,)
        ).fetchone()
        events = conn.execute(
            "SELECT seq, type FROM appeal_event WHERE appeal_id = %s", (appeal_id,)
        ).fetchall()
    assert (row["registration_number"], row["registered_on"], row["state"]) == (
        "ОГ-2026/1",
        date.today(),
        "registered",
    )
    assert events == [{"seq": 1, "type": "registered"}]


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
    _push(client, portal, topic_code="0003.0009.0001.0001")  # health: MINZDRAV-21
    fingerprint = ":".join(CLIENT_CERT_SHA256[i : i + 2].upper() for i in range(0, 64, 2))
    response = client.get("/sed/v1/messages", headers={"X-Client-Cert-Sha256": fingerprint})
    assert response.status_code == 200, response.text
    (message,) = response.json()["messages"]
    assert message["appeal"]["topic_code"].startswith("0003.0009")
    assert CERT_AGENCY == "MINZDRAV-21"


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
