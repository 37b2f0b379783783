"""The portal's side of the cabinet callback contract: checking what arrives and answering it.

Written from the contract files only (``schemas/cabinet-callback-1.*``), not from the hub's
connectors, so that the fake cabinet built on it proves the contract rather than echoing the
sender: REST requests are checked against the RFC 9530 digest, the RFC 9421 signature (pyauth's
verifier, the hub's certificate pinned by its SHA-256 thumbprint) and the OpenAPI schema; SOAP
requests against the XSD and the detached XMLDSig, verified as the hub verifies agencies'
answers (``Slot``, ``check_placement``, ``verify_slot`` with the pinned certificate).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from jsonschema import Draft202012Validator
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.adapters.xmlsec.envelope import load_schema, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import Slot, check_placement, verify_slot
from gateway.config import PROJECT_ROOT
from gateway.domain.errors import Code, Rejection

NS = "urn:appeals-gateway:cabinet:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OPENAPI = PROJECT_ROOT / "schemas" / "cabinet-callback-1.openapi.yaml"
XSD = PROJECT_ROOT / "schemas" / "cabinet-callback-1.xsd"
TAG = "appeals-gateway-cabinet-1"
COVERED = ("@method", "@target-uri", "content-digest", "idempotency-key", "content-type")
MAX_SIGNATURE_AGE = timedelta(minutes=5)
MAX_XML_DEPTH = 48


def q(local: str) -> str:
    return f"{{{NS}}}{local}"


_PUSH = f"./{{{SOAP_ENV}}}Body/{q('PushUpdate')}"
HUB = Slot(f"{_PUSH}/{q('HubSignature')}", f"{_PUSH}/{q('Update')}", "/PushUpdate/HubSignature")


class Refusal(Exception):
    """The cabinet refuses the request: HTTP ``status`` and a stable ``code`` (a SOAP Client fault)."""

    def __init__(self, status: int, code: str, detail: str, pointer: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer


# --- REST -------------------------------------------------------------------------------------


class _Headers:
    """The received header lines, as the verifier reads them (in order, repeats kept)."""

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> list[tuple[str, str]]:
        return self._lines


@dataclass(frozen=True)
class _Received:
    method: str
    url: str
    headers: _Headers


class RestVerifier:
    """Checks a REST callback's Content-Digest and the hub's RFC 9421 signature, pinned to one certificate."""

    def __init__(self, hub_cert_pem: bytes) -> None:
        certificate = x509.load_pem_x509_certificate(hub_cert_pem)
        self.key_id = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
        public = certificate.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            algorithm: type[algorithms.HTTPSignatureAlgorithm] = algorithms.RSA_V1_5_SHA256
        elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
            algorithm = algorithms.ECDSA_P256_SHA256
        else:
            raise ValueError("the hub's certificate must carry an RSA or P-256 key")
        self._verifier = HTTPMessageVerifier(
            signature_algorithm=algorithm,
            key_resolver=MappingKeyResolver(public_keys={self.key_id: public}, private_keys={}),
        )

    def verify(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Return if the digest matches ``body`` and the hub signed the request; else raise Refusal."""
        lines = list(headers)
        digests = [value for name, value in lines if name.lower() == "content-digest"]
        if len(digests) != 1:
            raise Refusal(400, "content-digest-missing", "one Content-Digest header is required")
        try:
            ContentDigest.verify(digests[0], body)
        except HTTPMessageSignaturesException:
            raise Refusal(400, "content-digest-mismatch", "Content-Digest does not match the body") from None
        try:
            self._verifier.verify(
                _Received(method, url, _Headers(lines)),
                max_age=MAX_SIGNATURE_AGE,
                expect_tag=TAG,
                require_components=COVERED,
                body=body,
            )
        except HTTPMessageSignaturesException as exc:
            code = (
                "signature-missing"
                if "signature" not in {n.lower() for n, _ in lines}
                else "signature-invalid"
            )
            raise Refusal(401, code, str(exc)) from None


@cache
def _update_validator() -> Draft202012Validator:
    contract = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    registry = Registry().with_resource("urn:cabinet-callback-1", Resource(contract, DRAFT202012))
    schema = {"$ref": "urn:cabinet-callback-1#/components/schemas/CabinetUpdate"}
    return Draft202012Validator(schema, registry=registry)


def read_rest_update(body: bytes, appeal_id: str, seq: int) -> dict[str, Any]:
    """The JSON update, valid against the OpenAPI schema and matching its URL; else Refusal."""
    try:
        update = json.loads(body)
    except ValueError:
        raise Refusal(400, "malformed-json", "the body is not JSON") from None
    errors = sorted(_update_validator().iter_errors(update), key=lambda e: list(e.absolute_path))
    if errors:
        pointer = "/" + "/".join(str(p) for p in errors[0].absolute_path)
        raise Refusal(422, "schema-violation", "the update does not match the contract", pointer)
    if update["appeal_id"] != appeal_id or update["seq"] != seq:
        raise Refusal(422, "path-mismatch", "appeal_id and seq must be those of the URL", "/appeal_id")
    _check_document(update)
    return update


def _check_document(update: dict[str, Any]) -> None:
    if update["type"] == "answered" and "answer" not in update:
        raise Refusal(422, "answer-missing", "an answered update carries the answer", "/answer")
    if "answer" in update:
        try:
            base64.b64decode(update["answer"]["document"], validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(422, "schema-violation", "the document is not base64", "/answer/document") from None


def problem(status: int, code: str, detail: str, pointer: str | None = None) -> bytes:
    body = {
        "type": f"urn:cabinet:problem:{code}",
        "title": code,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if pointer:
        body["pointer"] = pointer
    return json.dumps(body).encode()


# --- SOAP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoapUpdate:
    """A verified PushUpdate: the update as the REST body would carry it, and a digest of what was signed."""

    update: dict[str, Any]
    idempotency_key: str
    digest: str


def read_soap_update(body: bytes, hub_certificate: x509.Certificate) -> SoapUpdate:
    """Parse, validate and verify a PushUpdate request; read only the Update the signature covers."""
    try:
        root = parse_hardened(body, max_depth=MAX_XML_DEPTH)
        push = root.find(_PUSH)
        if root.tag != f"{{{SOAP_ENV}}}Envelope" or push is None:
            raise Refusal(400, "invalid-request", "not a SOAP 1.1 PushUpdate")
        validate(push, load_schema(XSD))
        check_placement(root, (HUB,))
        verified = verify_slot(root, HUB, hub_certificate)
    except Rejection as refusal:
        raise Refusal(_status(refusal.code), refusal.code.value, refusal.detail, refusal.pointer) from None
    if verified is None:
        raise Refusal(401, "signature-missing", "HubSignature holds no signature", HUB.pointer)
    signed = verified.signed_element
    update = _update_as_json(signed)
    _check_document(update)
    digest = hashlib.sha256(etree.tostring(signed, method="c14n", exclusive=True)).hexdigest()
    return SoapUpdate(update, _text(signed, "IdempotencyKey"), digest)


def _status(code: Code) -> int:
    if code in (Code.MALFORMED_XML, Code.FORBIDDEN_XML_CONSTRUCT, Code.XML_TOO_DEEP, Code.SCHEMA_VIOLATION):
        return 400
    return 401  # every other refusal of verify_slot is about the signature or its certificate


def _text(parent: etree._Element, local: str) -> str:
    child = parent.find(q(local))
    return "".join(child.itertext()).strip() if child is not None else ""


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _update_as_json(update: etree._Element) -> dict[str, Any]:
    result: dict[str, Any] = {
        "appeal_id": _text(update, "AppealId"),
        "seq": int(_text(update, "Seq")),
        "type": _text(update, "Type"),
        "state": _text(update, "State"),
        "at": _text(update, "At"),
        "details": {
            _snake(etree.QName(d).localname): "".join(d.itertext()) for d in update.find(q("Details"))
        },
    }
    if update.find(q("AccessCode")) is not None:
        result["access_code"] = _text(update, "AccessCode")
    answer = update.find(q("Answer"))
    if answer is not None:
        signatory = answer.find(q("Signatory"))
        result["answer"] = {
            "answer_id": _text(answer, "AnswerId"),
            "answered_on": _text(answer, "AnsweredOn"),
            "signatory": {"name": _text(signatory, "Name"), "position": _text(signatory, "Position")},
            "attachments": [
                {
                    "content_id": _text(a, "ContentId"),
                    "file_name": _text(a, "FileName"),
                    "media_type": _text(a, "MediaType"),
                    "size": int(_text(a, "Size")),
                    "sha256": _text(a, "Sha256"),
                }
                for a in answer.iterfind(f"{q('Attachments')}/{q('Attachment')}")
            ],
            "document": "".join(_text(answer, "Document").split()),
        }
    return result


def soap_envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def accepted(appeal_id: str, seq: int, outcome: str) -> bytes:
    element = etree.Element(q("Accepted"), nsmap={"cb": NS})
    for name, value in (("AppealId", appeal_id), ("Seq", str(seq)), ("Outcome", outcome)):
        etree.SubElement(element, q(name)).text = value
    return soap_envelope(element)


def fault(side: str, code: str, detail: str, pointer: str | None = None) -> bytes:
    """A SOAP 1.1 Fault: ``side`` is Client (refused) or Server (failed); the code is in cb:Error."""
    element = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(element, "faultcode").text = f"soap:{side}"
    etree.SubElement(element, "faultstring").text = detail
    error = etree.SubElement(etree.SubElement(element, "detail"), q("Error"), nsmap={"cb": NS})
    etree.SubElement(error, q("Code")).text = code
    if pointer:
        etree.SubElement(error, q("Pointer")).text = pointer
    return soap_envelope(element)
