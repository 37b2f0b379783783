"""The portal's side of the cabinet callback contract: checking what arrives and answering it.

Written from the contract files only (``schemas/cabinet-callback-{1,2}.*``), not from the hub's
connectors, so that the fake cabinet built on it proves the contract rather than echoing the
sender: REST requests are checked against the RFC 9530 digest, the RFC 9421 signature (pyauth's
verifier, the hub's certificate pinned by its SHA-256 thumbprint) and the OpenAPI schema; SOAP
requests against the XSD and the detached XMLDSig, verified as the hub verifies agencies'
answers (``Slot``, ``check_placement``, ``verify_slot`` with the pinned certificate). A cabinet
implements one version of the contract (:class:`Contract`); a request made for the other is refused
(its signature's tag, or its namespace, names the version).
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
from pathlib import Path
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
from gateway.config import SCHEMAS_DIR
from gateway.domain.errors import Code, Rejection

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
COVERED = ("@method", "@target-uri", "content-digest", "idempotency-key", "content-type")
MAX_SIGNATURE_AGE = timedelta(minutes=5)
MAX_XML_DEPTH = 48
VERSIONS = (1, 2)


@dataclass(frozen=True)
class Contract:
    """One version of the cabinet callback contract, as its files name things."""

    version: int = 2

    @property
    def ns(self) -> str:
        return f"urn:appeals-gateway:cabinet:{self.version}"

    @property
    def openapi(self) -> Path:
        return SCHEMAS_DIR / f"cabinet-callback-{self.version}.openapi.yaml"

    @property
    def xsd(self) -> Path:
        return SCHEMAS_DIR / f"cabinet-callback-{self.version}.xsd"

    @property
    def tag(self) -> str:
        return f"appeals-gateway-cabinet-{self.version}"

    def q(self, local: str) -> str:
        return f"{{{self.ns}}}{local}"

    @property
    def push_path(self) -> str:
        return f"./{{{SOAP_ENV}}}Body/{self.q('PushUpdate')}"

    @property
    def hub_slot(self) -> Slot:
        push = self.push_path
        return Slot(
            f"{push}/{self.q('HubSignature')}", f"{push}/{self.q('Update')}", "/PushUpdate/HubSignature"
        )


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

    def __init__(self, hub_cert_pem: bytes, contract: Contract) -> None:
        self._contract = contract
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
                expect_tag=self._contract.tag,
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
def _update_validator(contract: Contract) -> Draft202012Validator:
    document = yaml.safe_load(contract.openapi.read_text(encoding="utf-8"))
    uri = f"urn:cabinet-callback-{contract.version}"
    registry = Registry().with_resource(uri, Resource(document, DRAFT202012))
    schema = {"$ref": f"{uri}#/components/schemas/CabinetUpdate"}
    return Draft202012Validator(schema, registry=registry)


def read_rest_update(body: bytes, appeal_id: str, seq: int, contract: Contract) -> dict[str, Any]:
    """The JSON update, valid against the OpenAPI schema and matching its URL; else Refusal."""
    try:
        update = json.loads(body)
    except ValueError:
        raise Refusal(400, "malformed-json", "the body is not JSON") from None
    errors = sorted(_update_validator(contract).iter_errors(update), key=lambda e: list(e.absolute_path))
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


def read_soap_update(body: bytes, hub_certificate: x509.Certificate, contract: Contract) -> SoapUpdate:
    """Parse, validate and verify a PushUpdate request; read only the Update the signature covers."""
    slot = contract.hub_slot
    try:
        root = parse_hardened(body, max_depth=MAX_XML_DEPTH)
        push = root.find(contract.push_path)
        if root.tag != f"{{{SOAP_ENV}}}Envelope" or push is None:
            raise Refusal(400, "invalid-request", f"not a SOAP 1.1 PushUpdate of {contract.ns}")
        validate(push, load_schema(contract.xsd))
        check_placement(root, (slot,))
        verified = verify_slot(root, slot, hub_certificate)
    except Rejection as refusal:
        raise Refusal(_status(refusal.code), refusal.code.value, refusal.detail, refusal.pointer) from None
    if verified is None:
        raise Refusal(401, "signature-missing", "HubSignature holds no signature", slot.pointer)
    signed = verified.signed_element
    update = _SoapReader(contract).update(signed)
    _check_document(update)
    digest = hashlib.sha256(etree.tostring(signed, method="c14n", exclusive=True)).hexdigest()
    return SoapUpdate(update, _SoapReader(contract).text(signed, "IdempotencyKey"), digest)


def _status(code: Code) -> int:
    if code in (Code.MALFORMED_XML, Code.FORBIDDEN_XML_CONSTRUCT, Code.XML_TOO_DEEP, Code.SCHEMA_VIOLATION):
        return 400
    return 401  # every other refusal of verify_slot is about the signature or its certificate


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


@dataclass(frozen=True)
class _SoapReader:
    """The verified Update read into the REST body's shape, in one contract version's namespace."""

    contract: Contract

    def text(self, parent: etree._Element, local: str) -> str:
        child = parent.find(self.contract.q(local))
        return "".join(child.itertext()).strip() if child is not None else ""

    def details(self, parent: etree._Element) -> dict[str, str]:
        return {
            _snake(etree.QName(d).localname): "".join(d.itertext())
            for d in parent.find(self.contract.q("Details"))
        }

    def update(self, update: etree._Element) -> dict[str, Any]:
        q, text = self.contract.q, self.text
        result: dict[str, Any] = {
            "appeal_id": text(update, "AppealId"),
            "seq": int(text(update, "Seq")),
            "type": text(update, "Type"),
            "state": text(update, "State"),
            "at": text(update, "At"),
            "details": self.details(update),
        }
        if update.find(q("AccessCode")) is not None:
            result["access_code"] = text(update, "AccessCode")
        answer = update.find(q("Answer"))
        if answer is not None:
            result["answer"] = self.answer(answer)
        appeal = update.find(q("Appeal"))
        if appeal is not None:
            result["appeal"] = self.appeal(appeal)
        return result

    def answer(self, answer: etree._Element) -> dict[str, Any]:
        q, text = self.contract.q, self.text
        signatory = answer.find(q("Signatory"))
        return {
            "answer_id": text(answer, "AnswerId"),
            "answered_on": text(answer, "AnsweredOn"),
            "signatory": {"name": text(signatory, "Name"), "position": text(signatory, "Position")},
            "attachments": [
                {
                    "content_id": text(a, "ContentId"),
                    "file_name": text(a, "FileName"),
                    "media_type": text(a, "MediaType"),
                    "size": int(text(a, "Size")),
                    "sha256": text(a, "Sha256"),
                }
                for a in answer.iterfind(f"{q('Attachments')}/{q('Attachment')}")
            ],
            "document": "".join(text(answer, "Document").split()),
        }

    def agency(self, parent: etree._Element) -> dict[str, str] | None:
        agency = parent.find(self.contract.q("Agency"))
        return (
            {"code": self.text(agency, "Code"), "name": self.text(agency, "Name")}
            if agency is not None
            else None
        )

    def appeal(self, appeal: etree._Element) -> dict[str, Any]:
        """Contract 2's public state, as the REST body's ``appeal`` carries it."""
        q, text = self.contract.q, self.text
        result: dict[str, Any] = {"state": text(appeal, "State")}
        agency = self.agency(appeal)
        if agency is not None:
            result["agency"] = agency
        registration = appeal.find(q("Registration"))
        if registration is not None:
            result["registration"] = {
                "registration_number": text(registration, "RegistrationNumber"),
                "registered_on": text(registration, "RegisteredOn"),
            }
        for element, key in (("RegisterBy", "register_by"), ("AnswerBy", "answer_by")):
            if appeal.find(q(element)) is not None:
                result[key] = text(appeal, element)
        result["registrations"] = [
            {
                "agency": self.agency(r),
                "registration_number": text(r, "RegistrationNumber"),
                "registered_on": text(r, "RegisteredOn"),
            }
            for r in appeal.iterfind(f"{q('Registrations')}/{q('Registration')}")
        ]
        posted = appeal.find(q("PostalDispatch"))
        if posted is not None:
            result["postal_dispatch"] = {
                "dispatched_on": text(posted, "DispatchedOn"),
                "tracking_number": text(posted, "TrackingNumber"),
            }
        result["history"] = []
        for event in appeal.iterfind(f"{q('History')}/{q('Event')}"):
            entry: dict[str, Any] = {
                "seq": int(text(event, "Seq")),
                "type": text(event, "Type"),
                "at": text(event, "At"),
                "state": text(event, "State"),
                "details": self.details(event),
            }
            if event.find(q("Agency")) is not None:
                entry["agency"] = text(event, "Agency")
            result["history"].append(entry)
        return result


def soap_envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def accepted(appeal_id: str, seq: int, outcome: str, contract: Contract) -> bytes:
    q = contract.q
    element = etree.Element(q("Accepted"), nsmap={"cb": contract.ns})
    for name, value in (("AppealId", appeal_id), ("Seq", str(seq)), ("Outcome", outcome)):
        etree.SubElement(element, q(name)).text = value
    return soap_envelope(element)


def fault(side: str, code: str, detail: str, contract: Contract, pointer: str | None = None) -> bytes:
    """A SOAP 1.1 Fault: ``side`` is Client (refused) or Server (failed); the code is in cb:Error."""
    q = contract.q
    element = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(element, "faultcode").text = f"soap:{side}"
    etree.SubElement(element, "faultstring").text = detail
    error = etree.SubElement(etree.SubElement(element, "detail"), q("Error"), nsmap={"cb": contract.ns})
    etree.SubElement(error, q("Code")).text = code
    if pointer:
        etree.SubElement(error, q("Pointer")).text = pointer
    return soap_envelope(element)
