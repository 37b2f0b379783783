"""An agency's signed answer to an appeal (``schemas/answer-1.xsd``): building, verifying, reading.

The answer is verified like the portal's envelope (hardened parse, XSD, XMLDSig pinned to a slot),
with one difference in trust: the signing certificate is not chained to the trust anchors but
must be the very certificate registered for the agency, since any certificate the same CA issued
(to another agency, a portal, a citizen) would otherwise sign answers in this agency's name.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from uuid import UUID

from cryptography import x509
from lxml import etree

from gateway.adapters.xmlsec.envelope import load_schema, validate
from gateway.adapters.xmlsec.headers import add_attachment_headers
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import Slot, check_placement, verify_slot
from gateway.config import SCHEMAS_DIR
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AnswerDocument, AttachmentHeader, Signatory

NS = "urn:appeals-gateway:answer:1"
XSD_FILE = "answer-1.xsd"


def q(local: str) -> str:
    """Clark notation for an element of the answer namespace."""
    return f"{{{NS}}}{local}"


AGENCY = Slot(f"./{q('AgencySignature')}", f"./{q('Document')}", "/AgencySignature")


def _add(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, q(local))
    if text is not None:
        child.text = text
    return child


def build_answer(answer: AnswerDocument, *, document_xml_id: str = "document") -> bytes:
    """An unsigned answer: ``AgencySignature`` is an empty container until the agency signs.

    The agency's side, used by the EDMS simulator, tests and examples.
    """
    root = etree.Element(q("Answer"), nsmap={None: NS})
    document = _add(root, "Document")
    document.set("Id", document_xml_id)
    _add(document, "AnswerId", str(answer.answer_id))
    _add(document, "AppealId", str(answer.appeal_id))
    _add(document, "AgencyCode", answer.agency_code)
    _add(document, "RegistrationNumber", answer.registration_number)
    _add(document, "AnsweredOn", answer.answered_on.isoformat())
    signatory = _add(document, "Signatory")
    _add(signatory, "Name", answer.signatory.name)
    _add(signatory, "Position", answer.signatory.position)
    _add(document, "Text", answer.text)
    add_attachment_headers(document, answer.attachments, q)
    _add(root, "AgencySignature")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _value(parent: etree._Element, local: str) -> str:
    """The element's whole text: a comment inside a signed value must not cut what is read."""
    child = parent.find(q(local))
    return "".join(child.itertext()) if child is not None else ""


def read_answer(document: etree._Element) -> AnswerDocument:
    """The domain view of a schema-valid, signature-verified ``Document`` element (and of nothing else)."""
    signatory = document.find(q("Signatory"))
    return AnswerDocument(
        answer_id=UUID(_value(document, "AnswerId")),
        appeal_id=UUID(_value(document, "AppealId")),
        agency_code=_value(document, "AgencyCode"),
        registration_number=_value(document, "RegistrationNumber"),
        answered_on=date.fromisoformat(_value(document, "AnsweredOn")),
        signatory=Signatory(_value(signatory, "Name"), _value(signatory, "Position")),
        text=_value(document, "Text"),
        attachments=tuple(
            AttachmentHeader(
                content_id=item.get("ContentId", ""),
                file_name=_value(item, "FileName"),
                media_type=_value(item, "MediaType"),
                size=int(_value(item, "Size")),
                sha256=_value(item, "Sha256"),
            )
            for item in document.iterfind(f"{q('Attachments')}/{q('Attachment')}")
        ),
    )


def _validate(root: etree._Element, schemas_dir: Path) -> None:
    """The envelope's validation (first error, element pointer, no values echoed), this namespace unnamed."""
    try:
        validate(root, load_schema(schemas_dir / XSD_FILE))
    except Rejection as refusal:
        raise Rejection(refusal.code, refusal.detail.replace(f"{{{NS}}}", ""), refusal.pointer) from None


def verify_answer(
    raw: bytes,
    agency_certificate_pem: str | bytes,
    *,
    max_depth: int,
    now: datetime | None = None,
    schemas_dir: Path = SCHEMAS_DIR,
) -> tuple[AnswerDocument, etree._Element]:
    """The answer in ``raw`` and the signed ``Document`` it was read from, or a :class:`Rejection`.

    ``agency_certificate_pem`` is the agency's registered ``answer_certificate``: the signature
    must carry exactly that certificate (no chain is built), valid at ``now`` (default: the
    current time) and with the digitalSignature key usage. A registered certificate that cannot
    be read is the registry's fault, not the agency's request's: it raises ``ValueError``.
    """
    pem = (
        agency_certificate_pem.encode("ascii")
        if isinstance(agency_certificate_pem, str)
        else agency_certificate_pem
    )
    registered = x509.load_pem_x509_certificate(pem)
    root = parse_hardened(raw, max_depth=max_depth)
    _validate(root, schemas_dir)
    check_placement(root, (AGENCY,))
    verified = verify_slot(root, AGENCY, registered, now=now)
    if verified is None:
        raise Rejection(Code.SIGNATURE_MISSING, "the agency's signature is missing", AGENCY.pointer)
    return read_answer(verified.signed_element), verified.signed_element
