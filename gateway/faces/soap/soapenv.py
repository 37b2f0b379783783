"""SOAP 1.1 envelopes: reading a request's header entries and payload, writing a response.

The envelope's own errors have their own SOAP fault codes (``VersionMismatch`` for a SOAP 1.2
envelope, ``MustUnderstand`` for a header the hub must process but cannot); their stable code is
still one of the hub's, so clients branch on the same vocabulary everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from gateway.domain.errors import Code, Rejection

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
# SOAP 1.1 answers are text/xml in UTF-8. Litestar appends "; charset=utf-8" to every text/* media
# type it is given, so the charset is not written here: strict clients (.NET's WCF) refuse two.
MEDIA_TYPE = "text/xml"
# What lxml writes around a payload (``write``), for payloads written as text.
_OPEN = (
    f"<?xml version='1.0' encoding='UTF-8'?>\n<soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>".encode()
)
_CLOSE = b"</soap:Body></soap:Envelope>"


class FaultCode(StrEnum):
    CLIENT = "Client"
    SERVER = "Server"
    MUST_UNDERSTAND = "MustUnderstand"
    VERSION_MISMATCH = "VersionMismatch"


class EnvelopeRejection(Rejection):
    """A refusal of the envelope itself, which SOAP 1.1 names with a fault code other than Client."""

    def __init__(self, faultcode: FaultCode, detail: str, pointer: str | None = None) -> None:
        super().__init__(Code.INVALID_REQUEST, detail, pointer)
        self.faultcode = faultcode


@dataclass(frozen=True, slots=True)
class SoapRequest:
    headers: tuple[etree._Element, ...]
    payload: etree._Element


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def read(root: etree._Element, understood: Collection[str]) -> SoapRequest:
    """The header entries and the one payload element of a SOAP 1.1 request envelope."""
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise EnvelopeRejection(
            FaultCode.VERSION_MISMATCH, f"this endpoint speaks SOAP 1.1 (namespace {SOAP_ENV})", "/Envelope"
        )
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise EnvelopeRejection(FaultCode.CLIENT, "the document is not a SOAP 1.1 Envelope", "/")
    children = _elements(root)
    header = children.pop(0) if children and children[0].tag == f"{{{SOAP_ENV}}}Header" else None
    if not children or children[0].tag != f"{{{SOAP_ENV}}}Body":
        raise EnvelopeRejection(FaultCode.CLIENT, "the Envelope has no Body", "/Envelope/Body")
    payload = _elements(children[0])
    if len(payload) != 1:
        raise EnvelopeRejection(
            FaultCode.CLIENT, "the Body must hold exactly one operation element", "/Envelope/Body"
        )
    entries = tuple(_elements(header)) if header is not None else ()
    for entry in entries:
        if entry.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true") and entry.tag not in understood:
            raise EnvelopeRejection(
                FaultCode.MUST_UNDERSTAND,
                f"the header {etree.QName(entry).localname} is not understood here",
                "/Envelope/Header/" + etree.QName(entry).localname,
            )
    return SoapRequest(entries, payload[0])


def write(body: etree._Element | bytes) -> bytes:
    """A SOAP 1.1 envelope around ``body`` (a payload or a Fault), serialised as UTF-8; ``body`` may
    come serialised already (UTF-8, no declaration), and is then wrapped as lxml would wrap it."""
    if isinstance(body, bytes):
        return _OPEN + body + _CLOSE
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
