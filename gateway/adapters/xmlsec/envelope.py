"""The appeal envelope (``schemas/appeal-envelope-1.xsd``): schema validation, reading, building.

Reading is done only on the element the portal's signature covers (see ``signature.py``);
building is the portal's side, used by the simulators, the demo and the benches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from lxml import etree

from gateway.adapters.xmlsec.headers import add_attachment_headers
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import (
    Appeal,
    AppealKind,
    Applicant,
    ApplicantType,
    AssuranceLevel,
    AttachmentHeader,
    IdentityAssertion,
    IdentityProvider,
    MessageHeader,
    Organisation,
    PersonName,
    PostalAddress,
)

NS = "urn:appeals-gateway:envelope:1"
_N = {"e": NS}


def q(local: str) -> str:
    """Clark notation for an element of the envelope namespace."""
    return f"{{{NS}}}{local}"


_per_thread = threading.local()


def load_schema(path: Path) -> etree.XMLSchema:
    """The compiled XSD at ``path`` (a trusted file of ours), compiled once per thread.

    Not once per process: an ``XMLSchema``'s error log belongs to the instance, so validations
    running concurrently on one instance lose or swap each other's errors (and pointers).
    """
    schemas: dict[Path, etree.XMLSchema] = _per_thread.__dict__.setdefault("schemas", {})
    if path not in schemas:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        schemas[path] = etree.XMLSchema(etree.parse(str(path), parser))
    return schemas[path]


def _pointer(root: etree._Element, path: str | None) -> str | None:
    """libxml2's ``/*[1]/*[4]/*[5]`` → ``/Message/Appeal/TopicCode`` (the root Envelope left out)."""
    if not path:
        return None
    try:
        # libxml2 writes prefixed steps (``/s:X``) when the document uses prefixes.
        namespaces = {p: ns for e in root.iter(etree.Element) for p, ns in e.nsmap.items() if p}
        found = root.getroottree().xpath(path, namespaces=namespaces)
    except etree.XPathError:
        return None
    if not found or not isinstance(found[0], etree._Element):
        return None
    names = [etree.QName(e).localname for e in [found[0], *found[0].iterancestors()]][::-1]
    return "/" + "/".join(names[1:]) if len(names) > 1 else "/"


def validate(root: etree._Element, schema: etree.XMLSchema) -> None:
    """Raise ``SCHEMA_VIOLATION`` with the first error's element path; values are never echoed."""
    if schema.validate(root):
        return
    error = schema.error_log[0]
    message = error.message
    if (
        "pattern" in message
        or "length" in message
        or "not a valid value" in message
        or "enumeration" in message
    ):
        message = "the value is not allowed here (pattern, length or enumeration)"
    else:
        message = message.replace(f"{{{NS}}}", "")
    raise Rejection(Code.SCHEMA_VIOLATION, message, _pointer(root, error.path))


def _text(parent: etree._Element, local: str) -> str | None:
    child = parent.find(q(local))
    return child.text if child is not None else None


def _req(parent: etree._Element, local: str) -> str:
    return parent.findtext(q(local)) or ""


def read_message(message: etree._Element) -> tuple[MessageHeader, Appeal]:
    """The domain view of a schema-valid, signature-verified ``Message`` element."""
    header = MessageHeader(
        message_id=UUID(_req(message, "MessageId")),
        sent_at=datetime.fromisoformat(_req(message, "SentAt").replace("Z", "+00:00")),
        sender_id=_req(message, "SenderId"),
    )
    a = message.find(q("Appeal"))
    applicant_el = a.find(q("Applicant"))
    person = applicant_el.find(q("Person"))
    org_el = applicant_el.find(q("Organisation"))
    org_id_el = org_el.find(q("OrganisationId")) if org_el is not None else None
    address_el = applicant_el.find(q("PostalAddress"))
    identity_el = a.find(q("Identity"))
    appeal = Appeal(
        portal_appeal_id=_req(a, "PortalAppealId"),
        kind=AppealKind(_req(a, "Kind")),
        applicant=Applicant(
            type=ApplicantType(_req(applicant_el, "Type")),
            person=PersonName(
                _req(person, "LastName"), _req(person, "FirstName"), _text(person, "MiddleName")
            ),
            organisation=Organisation(_req(org_el, "Name"), org_id_el.text or "", org_id_el.get("Scheme", ""))
            if org_el is not None
            else None,
            email=_text(applicant_el, "Email"),
            phone=_text(applicant_el, "Phone"),
            postal_address=PostalAddress(_req(address_el, "Text"), _text(address_el, "Postcode"))
            if address_el is not None
            else None,
        ),
        identity=IdentityAssertion(
            IdentityProvider(_req(identity_el, "Provider")),
            _req(identity_el, "SubjectId"),
            AssuranceLevel(_req(identity_el, "AssuranceLevel")),
        ),
        addressee_code=_text(a, "AddresseeCode"),
        topic_code=_req(a, "TopicCode"),
        territory_code=_req(a, "TerritoryCode"),
        subject=_req(a, "Subject"),
        text=_req(a, "Text"),
        reply_preference=_req(a, "ReplyPreference"),
        notification_channels=tuple(c.text or "" for c in a.iterfind("e:Notifications/e:Channel", _N)),
        consent=_req(a, "Consent") in ("true", "1"),
        attachments=tuple(
            AttachmentHeader(
                content_id=item.get("ContentId", ""),
                file_name=_req(item, "FileName"),
                media_type=_req(item, "MediaType"),
                size=int(_req(item, "Size")),
                sha256=_req(item, "Sha256"),
            )
            for item in a.iterfind("e:Attachments/e:Attachment", _N)
        ),
    )
    return header, appeal


def _add(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, q(local))
    if text is not None:
        child.text = text
    return child


def build_envelope(
    header: MessageHeader, appeal: Appeal, *, message_xml_id: str = "message", appeal_xml_id: str = "appeal"
) -> bytes:
    """An unsigned envelope: ``PortalSignature`` is an empty container until the portal signs."""
    root = etree.Element(q("Envelope"), nsmap={None: NS})
    message = _add(root, "Message")
    message.set("Id", message_xml_id)
    _add(message, "MessageId", str(header.message_id))
    _add(message, "SentAt", header.sent_at.isoformat())
    _add(message, "SenderId", header.sender_id)
    a = _add(message, "Appeal")
    a.set("Id", appeal_xml_id)
    _add(a, "PortalAppealId", appeal.portal_appeal_id)
    _add(a, "Kind", appeal.kind.value)
    applicant = _add(a, "Applicant")
    _add(applicant, "Type", appeal.applicant.type.value)
    person = _add(applicant, "Person")
    _add(person, "LastName", appeal.applicant.person.last_name)
    _add(person, "FirstName", appeal.applicant.person.first_name)
    if appeal.applicant.person.middle_name:
        _add(person, "MiddleName", appeal.applicant.person.middle_name)
    if org := appeal.applicant.organisation:
        org_el = _add(applicant, "Organisation")
        _add(org_el, "Name", org.name)
        _add(org_el, "OrganisationId", org.organisation_id).set("Scheme", org.scheme)
    if appeal.applicant.email:
        _add(applicant, "Email", appeal.applicant.email)
    if appeal.applicant.phone:
        _add(applicant, "Phone", appeal.applicant.phone)
    if address := appeal.applicant.postal_address:
        address_el = _add(applicant, "PostalAddress")
        if address.postcode:
            _add(address_el, "Postcode", address.postcode)
        _add(address_el, "Text", address.text)
    identity = _add(a, "Identity")
    _add(identity, "Provider", appeal.identity.provider.value)
    _add(identity, "SubjectId", appeal.identity.subject_id)
    _add(identity, "AssuranceLevel", appeal.identity.assurance_level.value)
    if appeal.addressee_code:
        _add(a, "AddresseeCode", appeal.addressee_code)
    _add(a, "TopicCode", appeal.topic_code)
    _add(a, "TerritoryCode", appeal.territory_code)
    _add(a, "Subject", appeal.subject)
    _add(a, "Text", appeal.text)
    _add(a, "ReplyPreference", appeal.reply_preference)
    notifications = _add(a, "Notifications")
    for channel in appeal.notification_channels:
        _add(notifications, "Channel", channel)
    _add(a, "Consent", "true" if appeal.consent else "false")
    add_attachment_headers(a, appeal.attachments, q)
    _add(root, "PortalSignature")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def restamp(unsigned: bytes) -> bytes:
    """The unsigned envelope with a fresh MessageId, SentAt and PortalAppealId (for trying by hand)."""
    root = etree.fromstring(unsigned, etree.XMLParser(resolve_entities=False, no_network=True))
    message = root.find(q("Message"))
    message.find(q("MessageId")).text = str(uuid4())
    message.find(q("SentAt")).text = datetime.now(UTC).isoformat()
    portal_id = message.find(f"{q('Appeal')}/{q('PortalAppealId')}")
    portal_id.text = f"{portal_id.text}-{uuid4().hex[:8]}"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def attach(unsigned: bytes, headers: Sequence[AttachmentHeader]) -> bytes:
    """The unsigned envelope declaring these attachments instead of any it had (for trying by hand).

    The headers go where the contract has them, right after ``Consent``; the portal signs them, and
    the parts of the multipart push must then match their size and digest.
    """
    root = etree.fromstring(unsigned, etree.XMLParser(resolve_entities=False, no_network=True))
    appeal = root.find(f"{q('Message')}/{q('Appeal')}")
    for old in appeal.findall(q("Attachments")):
        appeal.remove(old)
    holder = etree.Element("holder")
    add_attachment_headers(holder, headers, q)
    if len(holder):
        appeal.find(q("Consent")).addnext(holder[0])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
