"""The hub's signatures on cabinet updates, checked by verifiers nobody here wrote the signing for.

REST: the RFC 9421 signature base is rebuilt by hand from what the fake cabinet received (RFC 9421
§2.5, RFC 9530) and verified with ``cryptography`` alone. SOAP: ``xmlsec1`` verifies the detached
XMLDSig on the Update as it arrived. Then the fake must refuse every tampered copy of a good
request, and an ECDSA hub key must work as well as the RSA one.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.serialization import Encoding

from connectors.portal.cabinet_rest import CabinetRestConnector
from connectors.portal.cabinet_soap import CabinetSoapConnector
from gateway.adapters.pki import issue_certificate
from gateway.simulators.cabinet import FakeCabinet
from tests.integration.connectors.portal.cabinet_messages import message

COVERED = ["@method", "@target-uri", "content-digest", "idempotency-key", "content-type"]


@pytest.fixture(scope="module")
def ec_hub(root_ca) -> tuple[bytes, bytes]:
    return issue_certificate(*root_ca, "Appeals Gateway Hub, ECDSA (dev)", key_type="ec")


def _header(headers: list[tuple[str, str]], name: str) -> str:
    (value,) = [v for n, v in headers if n.lower() == name]
    return value


def _verify_rfc9421_by_hand(request, cert_pem: bytes, contract: int = 2) -> dict[str, str]:
    """RFC 9421 verification from first principles; returns the signature's parameters."""
    headers = request.headers
    digest = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
    assert _header(headers, "content-digest") == f"sha-256=:{digest}:"
    signature_input = _header(headers, "signature-input")
    label, _, params = signature_input.partition("=")
    assert label == "hub"
    components = re.match(r"\(([^)]*)\)", params)[1]
    assert components.split() == [f'"{c}"' for c in COVERED]
    values = {
        "@method": request.method,
        "@target-uri": request.url,
        **{c: _header(headers, c) for c in COVERED if not c.startswith("@")},
    }
    base = "".join(f'"{c}": {values[c]}\n' for c in COVERED) + f'"@signature-params": {params}'
    signature = re.fullmatch(r"hub=:([A-Za-z0-9+/=]+):", _header(headers, "signature"))[1]
    certificate = x509.load_pem_x509_certificate(cert_pem)
    key = certificate.public_key()
    raw = base64.b64decode(signature)
    if isinstance(key, ec.EllipticCurvePublicKey):  # RFC 9421 §3.3.4: r || s, 32 bytes each
        der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        key.verify(der, base.encode(), ec.ECDSA(hashes.SHA256()))
    else:
        key.verify(raw, base.encode(), padding.PKCS1v15(), hashes.SHA256())
    parsed = dict(re.findall(r';([a-z]+)=("[^"]*"|\d+)', params))
    assert parsed["keyid"].strip('"') == hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    assert parsed["tag"] == f'"appeals-gateway-cabinet-{contract}"'
    assert 0 < int(parsed["expires"]) - int(parsed["created"]) <= 300
    return {k: v.strip('"') for k, v in parsed.items()}


def test_the_rest_signature_verifies_by_the_rfc_alone(cabinet, hub, appeal_id):
    with CabinetRestConnector(cabinet.url, *hub, contract=cabinet.contract.version) as connector:
        connector.deliver(message(appeal_id, 4, "answered"))
    (request,) = cabinet.requests
    assert request.url == f"{cabinet.url}/appeals/{appeal_id}/updates/4"
    assert _verify_rfc9421_by_hand(request, hub[1], cabinet.contract.version)["alg"] == "rsa-v1_5-sha256"


def test_the_soap_signature_verifies_with_xmlsec1(cabinet, hub, dev_pki, appeal_id, xmlsec1, tmp_path: Path):
    with CabinetSoapConnector(cabinet.soap_url, *hub, contract=cabinet.contract.version) as connector:
        connector.deliver(message(appeal_id, 4, "answered"))
    (request,) = cabinet.requests
    received = tmp_path / "push-update.xml"
    received.write_bytes(request.body)
    result = subprocess.run(
        [
            xmlsec1, "--verify", "--trusted-pem", str(dev_pki.root_cert),
            "--id-attr:Id", f"{cabinet.contract.ns}:Update",
            "--node-xpath", "//*[local-name()='HubSignature']/*[local-name()='Signature']",
            str(received),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr


def test_an_ecdsa_hub_key_signs_both_variants(ec_hub, appeal_id):
    with FakeCabinet(ec_hub[1]) as cabinet:
        with CabinetRestConnector(cabinet.url, *ec_hub) as rest:
            rest.deliver(message(appeal_id, 1))
        with CabinetSoapConnector(cabinet.soap_url, *ec_hub) as soap:
            soap.deliver(message(appeal_id, 2, "assigned"))
        assert cabinet.current(appeal_id)["seq"] == 2
        assert _verify_rfc9421_by_hand(cabinet.requests[0], ec_hub[1])["alg"] == "ecdsa-p256-sha256"


def test_a_key_that_is_not_the_certificates_is_refused_when_the_connector_is_built(hub, impostor):
    with pytest.raises(ValueError, match="does not match"):
        CabinetRestConnector("http://127.0.0.1:9", impostor[0], hub[1])
    with pytest.raises(ValueError, match="does not match"):
        CabinetSoapConnector("http://127.0.0.1:9/soap", impostor[0], hub[1])


# --- the fake cabinet refuses what the real one must ---------------------------------------------


@pytest.fixture
def good_request(cabinet, hub, appeal_id):
    """A request the hub signed and the cabinet took; replayed below with one thing changed."""
    with CabinetRestConnector(cabinet.url, *hub, contract=cabinet.contract.version) as connector:
        connector.deliver(message(appeal_id, 1))
    (request,) = cabinet.requests
    return request


def _replay(request, *, url=None, body=None, drop=(), **changed: str) -> httpx.Response:
    headers = {n: v for n, v in request.headers if n.lower() not in {"host", "content-length", *drop}}
    for name, value in changed.items():
        headers[name.replace("_", "-")] = value
    return httpx.put(url or request.url, content=request.body if body is None else body, headers=headers)


def test_an_exact_replay_is_only_a_duplicate(cabinet, good_request):
    response = _replay(good_request)
    assert response.status_code == 201
    assert cabinet.stats()["duplicates"] == 1


def test_an_altered_body_fails_the_content_digest(good_request):
    body = good_request.body.replace(b'"seq":1', b'"seq":2')
    response = _replay(good_request, body=body)
    assert (response.status_code, response.json()["code"]) == (400, "content-digest-mismatch")


def test_an_altered_body_with_a_recomputed_digest_fails_the_signature(good_request):
    body = good_request.body.replace("ОГ-2026/118".encode(), "ОГ-2026/999".encode())
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    response = _replay(good_request, body=body, Content_Digest=f"sha-256=:{digest}:")
    assert (response.status_code, response.json()["code"]) == (401, "signature-invalid")


def test_a_changed_idempotency_key_fails_the_signature(good_request):
    response = _replay(good_request, Idempotency_Key="cabinet:another:1")
    assert (response.status_code, response.json()["code"]) == (401, "signature-invalid")


def test_a_signed_update_cannot_be_replayed_against_another_appeal(good_request, cabinet):
    url = f"{cabinet.url}/appeals/{'0' * 8}-0000-4000-8000-{'0' * 12}/updates/1"
    response = _replay(good_request, url=url)
    assert (response.status_code, response.json()["code"]) == (401, "signature-invalid")


def test_an_unsigned_request_is_refused(good_request):
    response = _replay(good_request, drop=("signature", "signature-input"))
    assert (response.status_code, response.json()["code"]) == (401, "signature-missing")


def test_an_altered_soap_update_fails_its_signature(cabinet, hub, appeal_id):
    with CabinetSoapConnector(cabinet.soap_url, *hub, contract=cabinet.contract.version) as connector:
        connector.deliver(message(appeal_id, 1))
    (request,) = cabinet.requests
    forged = request.body.replace(b">registered<", b">declined<", 1)
    assert forged != request.body
    response = httpx.post(cabinet.soap_url, content=forged, headers={"Content-Type": "text/xml"})
    assert response.status_code == 500
    assert b"soap:Client" in response.content
    assert b"<cb:Code>signature-invalid</cb:Code>" in response.content


def test_a_soap_update_without_its_signature_is_refused(cabinet, hub, appeal_id):
    with CabinetSoapConnector(cabinet.soap_url, *hub, contract=cabinet.contract.version) as connector:
        connector.deliver(message(appeal_id, 1))
    (request,) = cabinet.requests
    stripped = re.sub(rb"<ds:Signature.*</ds:Signature>", b"", request.body, flags=re.S)
    assert stripped != request.body
    response = httpx.post(cabinet.soap_url, content=stripped, headers={"Content-Type": "text/xml"})
    assert b"<cb:Code>signature-missing</cb:Code>" in response.content
