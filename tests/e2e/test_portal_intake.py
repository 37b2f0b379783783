"""The portal's face over a real socket: signed envelopes in, receipts or problem documents out."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.adapters.db import blobs
from gateway.adapters.pki import DEV_OGRN, issue_certificate
from gateway.domain.model import ApplicantType, IdentityProvider
from gateway.simulators.portal import Signer, push
from gateway.simulators.samples import attachment_header, message_header, sample_appeal


@pytest.fixture
def client(hub_url, hub):
    """An HTTP client of the hub; depends on ``hub`` so every test starts with no appeals."""
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _count(hub, table: str) -> int:
    with hub.pool.connection() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def _rejections(hub) -> list[str]:
    with hub.pool.connection() as conn:
        return [r["code"] for r in conn.execute("SELECT code FROM intake_rejection ORDER BY id")]


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["type"].endswith(code)
    return body


def _assert_nothing_stored(hub) -> None:
    for table in ("appeal", "inbound_message", "attachment", "blob", "mailbox_message"):
        assert _count(hub, table) == 0, table


def test_an_individuals_appeal_is_stored_verbatim_and_routed(client, hub, portal):
    envelope = portal.envelope(sample_appeal(1))
    response = push(client, envelope)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["routed_to"] == "ADM-CHEBOKSARY"
    assert receipt["duplicate"] is False
    with hub.pool.connection() as conn:
        raw = conn.execute("SELECT raw FROM inbound_message").fetchone()["raw"]
        appeal = conn.execute("SELECT * FROM appeal").fetchone()
        mailbox = conn.execute("SELECT agency_code, appeal_id FROM mailbox_message").fetchall()
        audit = [
            r["action"] for r in conn.execute("SELECT action FROM audit_record WHERE appeal_id IS NOT NULL")
        ]
    assert bytes(raw) == envelope
    assert str(appeal["id"]) == receipt["appeal_id"]
    assert appeal["state"] == "routed"
    assert appeal["data"]["topic_code"] == "0005.0005.0056.1149"
    assert [(m["agency_code"], str(m["appeal_id"])) for m in mailbox] == [
        ("ADM-CHEBOKSARY", receipt["appeal_id"])
    ]
    assert audit == ["received", "routed"]


def test_belarusian_portal_signs_with_ecdsa(client, portal_by):
    appeal = sample_appeal(1, provider=IdentityProvider.BY_PASSWORD_PHONE, territory_code="5000000000")
    response = push(client, portal_by.envelope(appeal))
    assert response.status_code == 201, response.text
    assert response.json()["routed_to"] == "MINGORISPOLKOM"


def test_legal_entity_with_attachment(client, hub, portal):
    scan = b"%PDF-1.4\n" + bytes(range(256)) * 4096  # 1 MiB: more than one chunk once stored
    header = attachment_header("scan-1", "акт.pdf", "application/pdf", scan)
    appeal = sample_appeal(1, applicant_type=ApplicantType.LEGAL_ENTITY, attachments=(header,))
    envelope = portal.envelope(appeal, sign_as_applicant=True)
    response = push(client, envelope, {"scan-1": ("акт.pdf", scan, "application/pdf")})
    assert response.status_code == 201, response.text
    with hub.pool.connection() as conn:
        stored = b"".join(blobs.iter_chunks(conn, hashlib.sha256(scan).digest()))
        row = conn.execute("SELECT n, file_name, size FROM attachment").fetchone()
    assert stored == scan
    assert (row["n"], row["file_name"], row["size"]) == (1, "акт.pdf", len(scan))


def test_legal_entity_without_applicant_signature_is_refused(client, hub, portal):
    appeal = sample_appeal(1, applicant_type=ApplicantType.LEGAL_ENTITY)
    body = _problem(push(client, portal.envelope(appeal)), 422, "applicant-signature-required")
    assert body["pointer"] == "/Message/ApplicantSignature"
    _assert_nothing_stored(hub)


def test_unrouted_appeal_waits_for_an_operator(client, portal):
    response = push(client, portal.envelope(sample_appeal(1, topic_code="0001.0001.0001.0001")))
    assert response.status_code == 201
    assert response.json()["routed_to"] == "manual-routing"


def test_chosen_addressee_wins(client, portal):
    response = push(client, portal.envelope(sample_appeal(1, addressee_code="MINZDRAV-21")))
    assert response.json()["routed_to"] == "MINZDRAV-21"


def test_the_same_bytes_twice_get_the_same_receipt(client, hub, portal):
    envelope = portal.envelope(sample_appeal(1))
    first = push(client, envelope)
    second = push(client, envelope)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["appeal_id"] == first.json()["appeal_id"]
    assert second.json()["duplicate"] is True
    assert _count(hub, "appeal") == 1


def test_concurrent_identical_pushes_store_one_appeal(client, hub, portal):
    envelope = portal.envelope(sample_appeal(1))
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: push(client, envelope), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["appeal_id"] for r in responses}) == 1
    assert _count(hub, "appeal") == 1


def test_a_message_id_reused_with_other_bytes_is_a_conflict(client, hub, portal):
    header = message_header("EPGU")
    assert push(client, portal.envelope(sample_appeal(1), header)).status_code == 201
    body = _problem(push(client, portal.envelope(sample_appeal(2), header)), 409, "message-id-reused")
    assert body["pointer"] == "/Message/MessageId"
    assert _count(hub, "appeal") == 1


def test_the_same_portal_appeal_in_a_new_message_is_a_conflict(client, hub, portal):
    appeal = sample_appeal(1)
    assert push(client, portal.envelope(appeal)).status_code == 201
    _problem(push(client, portal.envelope(appeal)), 409, "appeal-already-received")
    assert _count(hub, "appeal") == 1


def test_stale_envelope_is_refused(client, hub, portal):
    header = message_header("EPGU", sent_at=datetime.now(UTC) - timedelta(hours=2))
    body = _problem(push(client, portal.envelope(sample_appeal(1), header)), 422, "sent-at-out-of-window")
    assert body["pointer"] == "/Message/SentAt"


def test_tampered_text_is_refused_and_recorded(client, hub, portal):
    envelope = portal.envelope(sample_appeal(1)).replace("Прошу".encode(), "Требую".encode(), 1)
    _problem(push(client, envelope), 422, "signature-invalid")
    _assert_nothing_stored(hub)
    assert _rejections(hub) == ["signature-invalid"]


def test_tampered_attachment_is_refused(client, hub, portal):
    scan = b"%PDF-1.4\n" + b"original scan" * 100
    header = attachment_header("scan-1", "a.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    forged = b"%PDF-1.4\n" + b"forged!! scan" * 100
    _problem(
        push(client, envelope, {"scan-1": ("a.pdf", forged, "application/pdf")}),
        422,
        "attachment-digest-mismatch",
    )
    _assert_nothing_stored(hub)


def test_missing_and_unexpected_attachment_parts(client, hub, portal):
    scan = b"%PDF-1.4\n" + b"scan" * 10
    header = attachment_header("scan-1", "a.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    _problem(push(client, envelope, {"other": ("b.pdf", scan, "application/pdf")}), 422, "attachment-missing")
    plain = portal.envelope(sample_appeal(2))
    _problem(push(client, plain, {"extra": ("b.pdf", scan, "application/pdf")}), 422, "attachment-unexpected")
    _assert_nothing_stored(hub)


# Whose certificate is outside its validity (the portal's, or a legal entity's representative's),
# and where the refusal points.
SIGNERS = {"portal": ("EPGU Portal (dev)", "/PortalSignature"),
           "applicant": ("Representative (dev)", "/Message/ApplicantSignature")}  # fmt: skip


@pytest.mark.parametrize("whose", list(SIGNERS))
def test_a_certificate_not_yet_valid_is_told_from_an_expired_one(client, hub, portal, root_ca, whose):
    common_name, pointer = SIGNERS[whose]
    now = datetime.now(UTC)
    refused = []
    for starts, ends, code in ((1, 30, "certificate-not-yet-valid"), (-30, -1, "certificate-expired")):
        signer = Signer(*issue_certificate(
            *root_ca, common_name, ogrn=DEV_OGRN,
            not_before=now + timedelta(days=starts), not_after=now + timedelta(days=ends),
        ))  # fmt: skip
        sender = replace(portal, signer=signer) if whose == "portal" else replace(portal, applicant=signer)
        appeal = sample_appeal(1, applicant_type=ApplicantType.LEGAL_ENTITY)
        body = _problem(push(client, sender.envelope(appeal, sign_as_applicant=True)), 422, code)
        assert body["pointer"] == pointer
        refused.append(code)
    _assert_nothing_stored(hub)
    assert _rejections(hub) == refused


def test_unknown_sender_is_refused(client, portal):
    envelope = portal.envelope(sample_appeal(1), message_header("SOMEONE-ELSE"))
    _problem(push(client, envelope), 422, "sender-unknown")


def test_a_sender_must_sign_with_its_own_certificate(client, portal_by):
    envelope = portal_by.envelope(sample_appeal(1), message_header("EPGU"))
    _problem(push(client, envelope), 422, "sender-certificate-mismatch")


def test_russian_appeal_without_esia_is_refused(client, portal):
    appeal = sample_appeal(1, provider=IdentityProvider.ID_CARD)
    body = _problem(push(client, portal.envelope(appeal)), 422, "identity-provider-not-allowed")
    assert body["pointer"] == "/Message/Appeal/Identity/Provider"


def test_xml_attacks_are_refused_without_a_500(client, hub):
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">' % (b"b%d" % i, (b"&a;" if i == 0 else b"&b%d;" % (i - 1)) * 10)
            for i in range(9)
        )
        + b"]><Envelope>&b8;</Envelope>"
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><Envelope>&x;</Envelope>'
    )
    deep = b"<a>" * 20000 + b"</a>" * 20000
    cases = [
        (laughs, "forbidden-xml-construct"),
        (xxe, "forbidden-xml-construct"),
        (deep, "xml-too-deep"),
        (b"<Envelope>", "malformed-xml"),
    ]
    for body, code in cases:
        response = client.post(
            "/portal/v1/appeals", content=body, headers={"Content-Type": "application/xml"}
        )
        _problem(response, 400, code)
    _assert_nothing_stored(hub)


def test_oversize_and_wrong_media_type(client, hub):
    big = b"<Envelope>" + b" " * (hub.settings.max_envelope_bytes + 1) + b"</Envelope>"
    xml, json = {"Content-Type": "application/xml"}, {"Content-Type": "application/json"}
    _problem(client.post("/portal/v1/appeals", content=big, headers=xml), 413, "body-too-large")
    _problem(client.post("/portal/v1/appeals", content=b"{}", headers=json), 415, "unsupported-media-type")
    assert _rejections(hub) == ["body-too-large", "unsupported-media-type"]


def test_schema_violation_names_the_field(client, portal):
    envelope = portal.envelope(sample_appeal(1, topic_code="0005.0005.0056.1149"))
    broken = envelope.replace(b"<TopicCode>0005.0005.0056.1149</TopicCode>", b"<TopicCode>5.5</TopicCode>")
    assert broken != envelope
    body = _problem(push(client, broken), 400, "schema-violation")
    assert body["pointer"] == "/Message/Appeal/TopicCode"
