"""SOAP 1.1 Faults carrying the hub's stable codes, the same vocabulary as REST problem documents.

Every fault goes out with HTTP 500, for ``soap:Client`` too: SOAP 1.1's HTTP binding says a fault
is reported with 500 (WS-I Basic Profile R1126), and toolkits such as zeep read the Fault only then.
So the status says nothing; ``detail/sed:Error/sed:Code`` says what was wrong, ``sed:Pointer``
where, ``faultstring`` explains this case to a person without echoing the request's content, and
``sed:Description`` (Russian, then English) says what the code means, for the EDMS's operators.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.domain.error_messages import INTERNAL_ERROR, describe
from gateway.domain.errors import Code, Rejection
from gateway.faces.soap.codec import NS, q
from gateway.faces.soap.soapenv import SOAP_ENV, EnvelopeRejection, FaultCode

HTTP_STATUS = 500


@dataclass(frozen=True, slots=True)
class Fault:
    faultcode: FaultCode
    faultstring: str
    code: str
    pointer: str | None = None


# The hub's own failure: nothing was applied, the client may retry; nothing of the cause leaks.
SERVER_FAULT = Fault(FaultCode.SERVER, "the hub failed; the request was not applied", INTERNAL_ERROR)
# The hub's database away for a moment: retry later (the response also carries ``Retry-After``).
UNAVAILABLE_FAULT = Fault(
    FaultCode.SERVER,
    "the hub's database is unavailable for a moment; retry the request later",
    Code.SERVICE_UNAVAILABLE.value,
)


def of_rejection(rejection: Rejection) -> Fault:
    """A refusal as a fault: ``soap:Server`` for a condition of the hub's side that a retry may clear
    (``antivirus-unavailable``, REST's 503s), ``soap:Client`` for what the request must change."""
    if isinstance(rejection, EnvelopeRejection):
        faultcode = rejection.faultcode
    else:
        faultcode = FaultCode.SERVER if rejection.http_status >= 500 else FaultCode.CLIENT
    return Fault(faultcode, rejection.detail, rejection.code.value, rejection.pointer)


def element(fault: Fault) -> etree._Element:
    """The ``soap:Fault`` element; its unqualified children are as SOAP 1.1 defines them."""
    node = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    etree.SubElement(node, "faultcode").text = f"soap:{fault.faultcode.value}"
    etree.SubElement(node, "faultstring").text = fault.faultstring
    error = etree.SubElement(etree.SubElement(node, "detail"), q("Error"), nsmap={"sed": NS})
    etree.SubElement(error, q("Code")).text = fault.code
    if fault.pointer:
        etree.SubElement(error, q("Pointer")).text = fault.pointer
    for lang, text in zip(("ru", "en"), describe(fault.code), strict=True):
        etree.SubElement(error, q("Description"), lang=lang).text = text
    return node
