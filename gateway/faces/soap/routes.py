"""The SOAP face's HTTP handlers: the contract at ``GET /sed/soap/v1?wsdl``, calls at ``POST /sed/soap/v1``.

A call goes: size cap → hardened parse → SOAP 1.1 envelope → authentication → operation by the
payload's QName (not by SOAPAction, which proxies and toolkits mangle) → schema validation →
the service layer. The size cap is the usual envelope size, except for the operations that may
carry files inline (an answer's attachments), whose cap is larger. Whatever goes wrong comes back
as a SOAP Fault, never as a traceback or a JSON problem, and client faults are recorded like the
REST face's refusals.
"""

from __future__ import annotations

import logging

import anyio
from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from lxml import etree

from gateway.adapters import metrics
from gateway.adapters.db.outage import RETRY_AFTER_SECONDS, is_outage
from gateway.adapters.xmlsec.envelope import validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.domain.errors import Code, Rejection
from gateway.faces.rest import contract as openapi
from gateway.faces.rest.auth import bearer_token
from gateway.faces.rest.request_log import ClientAborted, note
from gateway.faces.rest.upload import read_xml
from gateway.faces.soap import codec, faults, security, soapenv, wsdl
from gateway.faces.soap.operations import INLINE_REQUESTS, OPERATIONS, Operation, max_request_bytes
from gateway.service import refusals
from gateway.service.hub import Hub

log = logging.getLogger(__name__)

FACE = "sed-soap"
TAGS = ["EDMS (SOAP)"]
# The contract depends on how the client reached the hub, so shared caches must key on it.
_VARY = "Host, Forwarded, X-Forwarded-Proto, X-Forwarded-Host"


@get(
    wsdl.ENDPOINT,
    tags=TAGS,
    summary="The WSDL (`?wsdl`) or the schema it imports (`?xsd=…`)",
    security=openapi.PUBLIC,
    responses=openapi.answers(bytes, 404, media_type="text/xml"),
)
async def contract(request: Request, hub: Hub, xsd: str | None = None) -> Response[bytes]:
    schemas_dir = hub.settings.schemas_dir
    if xsd is None:
        host = request.headers.get("host") or request.url.netloc
        body = wsdl.render_wsdl(schemas_dir, wsdl.public_base_url(request.headers, request.url.scheme, host))
    elif xsd == wsdl.XSD_FILE:
        body = wsdl.schema_document(schemas_dir)
    else:
        raise Rejection(Code.NOT_FOUND, "no such schema", "/xsd")
    return Response(body, media_type=soapenv.MEDIA_TYPE, headers={"Vary": _VARY})


@post(
    wsdl.ENDPOINT,
    request_max_body_size=None,
    tags=TAGS,
    status_code=200,
    summary="Call an operation (SOAP 1.1; the WSDL is its contract)",
    security=openapi.AS_AGENCY,  # or WS-Security UsernameToken in the envelope's header
    responses={
        200: ResponseSpec(bytes, generate_examples=False, description="The answer", media_type="text/xml"),
        500: ResponseSpec(bytes, generate_examples=False, description="A SOAP Fault", media_type="text/xml"),
    },
)
async def call(request: Request, hub: Hub) -> Response[bytes]:
    """200 with the operation's response, or 500 with a Fault (SOAP 1.1 reports every fault so);
    the database away is a ``soap:Server`` fault ``service-unavailable`` with ``Retry-After``."""
    http = security.HttpCredentials(
        bearer=bearer_token(request), client_cert_sha256=request.headers.get(hub.settings.client_cert_header)
    )
    try:
        raw = await read_xml(request.stream(), max_request_bytes(hub.settings.max_envelope_bytes))
        answer = await anyio.to_thread.run_sync(_answer, hub, raw, http)
    except Rejection as rejection:
        # The status recorded is the one REST gives the same code, so refusals compare across faces.
        refusal = refusals.Refusal(
            FACE, "POST", wsdl.ENDPOINT, rejection.http_status, rejection.code.value,
            rejection.pointer, rejection.detail,
        )  # fmt: skip
        await anyio.to_thread.run_sync(refusals.record, hub, refusal)
        return _fault(faults.of_rejection(rejection))
    except ClientAborted:
        raise  # no one to answer: the request log counts it
    except Exception as exc:
        if is_outage(exc):
            log.warning("a SOAP call found the database unavailable: %s", type(exc).__name__)
            return _fault(faults.UNAVAILABLE_FAULT, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.exception("a SOAP call failed")
        return _fault(faults.SERVER_FAULT)
    return Response(answer, status_code=200, media_type=soapenv.MEDIA_TYPE)


def _fault(fault: faults.Fault, headers: dict[str, str] | None = None) -> Response[bytes]:
    metrics.soap_fault(fault.code)
    body = soapenv.write(faults.element(fault))
    return Response(body, status_code=faults.HTTP_STATUS, media_type=soapenv.MEDIA_TYPE, headers=headers)


def _answer(hub: Hub, raw: bytes, http: security.HttpCredentials) -> bytes:
    settings = hub.settings
    oversize = len(raw) > settings.max_envelope_bytes
    root = parse_hardened(raw, max_depth=settings.max_xml_depth, huge_text=oversize)
    if oversize and not any(
        root.find(f"{{{soapenv.SOAP_ENV}}}Body/{tag}") is not None for tag in INLINE_REQUESTS
    ):
        raise Rejection(Code.BODY_TOO_LARGE, f"the envelope exceeds {settings.max_envelope_bytes} bytes")
    request = soapenv.read(root, understood={security.SECURITY_HEADER})
    agency = security.authenticate(hub, security.username_token(request.headers), http)
    note(caller=agency)
    payload = codec.standalone(request.payload)
    operation = _operation(payload)
    note(operation=etree.QName(payload).localname)  # a known one: _operation refuses the others
    try:
        validate(payload, wsdl.payload_schema(settings.schemas_dir))
    except Rejection as rejection:
        detail = rejection.detail.replace(f"{{{codec.NS}}}", "")
        raise Rejection(rejection.code, detail, rejection.pointer) from None
    return soapenv.write(operation(hub, agency, payload))


def _operation(payload: etree._Element) -> Operation:
    name = etree.QName(payload)
    pointer = "/Envelope/Body/" + name.localname
    if name.namespace != codec.NS:
        raise Rejection(Code.INVALID_REQUEST, f"operations are elements of the namespace {codec.NS}", pointer)
    operation = OPERATIONS.get(payload.tag)
    if operation is None:
        raise Rejection(Code.INVALID_REQUEST, "no such operation; the WSDL lists them", pointer)
    return operation
