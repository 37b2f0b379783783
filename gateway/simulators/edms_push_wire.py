"""The agency's side of ``schemas/sed-push-1.wsdl``: reading a DeliverAppeal request, writing answers.

What an agency's EDMS must do with a push, in the order the contract asks: parse hardened, check the
SOAP 1.1 envelope and the UsernameToken (when the agency gave the hub credentials), validate the
payload against the XSD, verify the hub's signature pinned to the hub's certificate, and read only
the Delivery the signature covers. It shares the hub's XMLDSig verifier (``verify_slot``) but none
of the connector's code: the connector is tested against an independent reading of the contract.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography import x509
from lxml import etree

from gateway.adapters.xmlsec.envelope import validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import Slot, check_placement, verify_slot
from gateway.domain.errors import Code, Rejection

NS = "urn:appeals-gateway:sed-push:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = _PROFILE + "#PasswordText"
MAX_DEPTH = 48
NOT_ADDRESSEE = "not-addressee"
MESSAGE_ID_REUSED = "message-id-reused"


def q(local: str) -> str:
    """Clark notation for an element of the push namespace."""
    return f"{{{NS}}}{local}"


HUB = Slot(f"./{q('HubSignature')}", f"./{q('Delivery')}", "/DeliverAppeal/HubSignature")


class Refusal(Exception):
    """A Fault to answer with: ``faultcode`` Client (the request is wrong) or Server (we failed)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        pointer: str | None = None,
        faultcode: str = "Client",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{faultcode} {code}: {detail}")
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.faultcode = faultcode
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Delivery:
    """The signed Delivery, as the agency reads it."""

    message_id: str
    agency_code: str
    appeal_id: str
    portal_message_id: str
    sender_id: str | None
    portal_appeal_id: str | None
    received_at: str
    sent_at: str
    routing: dict[str, str]
    attachments: tuple[dict[str, Any], ...]
    signed_xml: bytes
    signed_xml_sha256: str


def _text(parent: etree._Element, local: str) -> str:
    child = parent.find(q(local))
    return "".join(child.itertext()).strip() if child is not None else ""


def _read(delivery: etree._Element) -> Delivery:
    routing = delivery.find(q("Routing"))
    return Delivery(
        message_id=_text(delivery, "MessageId").lower(),
        agency_code=_text(delivery, "AgencyCode"),
        appeal_id=_text(delivery, "AppealId").lower(),
        portal_message_id=_text(delivery, "PortalMessageId").lower(),
        sender_id=_text(delivery, "SenderId") or None,
        portal_appeal_id=_text(delivery, "PortalAppealId") or None,
        received_at=_text(delivery, "ReceivedAt"),
        sent_at=_text(delivery, "SentAt"),
        routing={etree.QName(c).localname: (c.text or "") for c in routing} if routing is not None else {},
        attachments=tuple(
            {
                "n": int(_text(item, "N")),
                "content_id": _text(item, "ContentId"),
                "file_name": _text(item, "FileName"),
                "media_type": _text(item, "MediaType"),
                "size": int(_text(item, "Size")),
                "sha256": _text(item, "Sha256"),
            }
            for item in delivery.iterfind(f"{q('Attachments')}/{q('Attachment')}")
        ),
        signed_xml=base64.b64decode(_text(delivery, "SignedXml")),
        signed_xml_sha256=_text(delivery, "SignedXmlSha256"),
    )


def _payload(root: etree._Element) -> tuple[list[etree._Element], etree._Element]:
    """The SOAP 1.1 header entries and the Body's one element."""
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Refusal(Code.INVALID_REQUEST.value, "not a SOAP 1.1 Envelope", pointer="/")
    children = [c for c in root if isinstance(c.tag, str)]
    header = children.pop(0) if children and children[0].tag == f"{{{SOAP_ENV}}}Header" else None
    body = children[0] if children and children[0].tag == f"{{{SOAP_ENV}}}Body" else None
    payload = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if len(payload) != 1 or payload[0].tag != q("DeliverAppeal"):
        raise Refusal(
            Code.INVALID_REQUEST.value, "the Body must hold one DeliverAppeal", pointer="/Envelope/Body"
        )
    entries = [c for c in header if isinstance(c.tag, str)] if header is not None else []
    return entries, payload[0]


def _check_credentials(entries: list[etree._Element], credentials: tuple[str, str]) -> str:
    """The UsernameToken's user, when it matches the configured credentials (PasswordText only)."""
    tokens = [
        t for e in entries if e.tag == f"{{{WSSE}}}Security" for t in e.iter(f"{{{WSSE}}}UsernameToken")
    ]
    if len(tokens) == 1:
        username = (tokens[0].findtext(f"{{{WSSE}}}Username") or "").strip()
        password = tokens[0].find(f"{{{WSSE}}}Password")
        given = (password.text or "") if password is not None else ""
        kind = password.get("Type", PASSWORD_TEXT) if password is not None else None
        if (
            kind == PASSWORD_TEXT
            and hmac.compare_digest(username.encode(), credentials[0].encode())
            and hmac.compare_digest(given.encode(), credentials[1].encode())
        ):
            return username
    raise Refusal(
        Code.UNAUTHENTICATED.value, "valid hub credentials are required", pointer="/Envelope/Header"
    )


def read_request(
    raw: bytes,
    hub_certificate: x509.Certificate,
    schema: etree.XMLSchema,
    *,
    credentials: tuple[str, str] | None = None,
    agency_code: str | None = None,
) -> tuple[Delivery, str | None]:
    """The verified Delivery of a DeliverAppeal request and the authenticated user, or a Refusal."""
    try:
        root = parse_hardened(raw, max_depth=MAX_DEPTH)
        entries, element = _payload(root)
        user = _check_credentials(entries, credentials) if credentials else None
        # The payload on its own: nothing outside it (SOAP headers) can take part in verification.
        payload = etree.fromstring(etree.tostring(element))
        validate(payload, schema)
        check_placement(payload, (HUB,))
        verified = verify_slot(payload, HUB, hub_certificate)
    except Rejection as rejection:
        raise Refusal(rejection.code.value, rejection.detail, pointer=rejection.pointer) from None
    if verified is None:
        raise Refusal(Code.SIGNATURE_MISSING.value, "the hub's signature is missing", pointer=HUB.pointer)
    delivery = _read(verified.signed_element)
    if hashlib.sha256(delivery.signed_xml).hexdigest() != delivery.signed_xml_sha256:
        raise Refusal(
            Code.INVALID_REQUEST.value,
            "SignedXml does not match SignedXmlSha256",
            pointer="/Delivery/SignedXml",
        )
    if agency_code is not None and delivery.agency_code != agency_code:
        raise Refusal(NOT_ADDRESSEE, "the delivery is for another agency", pointer="/Delivery/AgencyCode")
    return delivery, user


def _envelope(body: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def accepted(
    message_id: str,
    receipt_id: str,
    *,
    duplicate: bool,
    registration_number: str | None = None,
    registered_on: date | None = None,
) -> bytes:
    """The DeliveryAccepted answer."""
    answer = etree.Element(q("DeliveryAccepted"), nsmap={"push": NS})
    etree.SubElement(answer, q("MessageId")).text = message_id
    etree.SubElement(answer, q("ReceiptId")).text = receipt_id
    etree.SubElement(answer, q("Duplicate")).text = "true" if duplicate else "false"
    if registration_number or registered_on:
        hint = etree.SubElement(answer, q("RegistrationHint"))
        if registration_number:
            etree.SubElement(hint, q("RegistrationNumber")).text = registration_number
        if registered_on:
            etree.SubElement(hint, q("RegisteredOn")).text = registered_on.isoformat()
    return _envelope(answer)


def fault(refusal: Refusal) -> bytes:
    """A SOAP 1.1 Fault with push:Error in its detail (sent with HTTP 500)."""
    node = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(node, "faultcode").text = f"soap:{refusal.faultcode}"
    etree.SubElement(node, "faultstring").text = refusal.detail
    error = etree.SubElement(etree.SubElement(node, "detail"), q("Error"), nsmap={"push": NS})
    etree.SubElement(error, q("Code")).text = refusal.code
    if refusal.pointer:
        etree.SubElement(error, q("Pointer")).text = refusal.pointer
    if refusal.retry_after is not None:
        etree.SubElement(error, q("RetryAfterSeconds")).text = str(refusal.retry_after)
    return _envelope(node)
