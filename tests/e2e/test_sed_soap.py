"""The SOAP face over a real socket: its contract, its envelopes, its faults and its credentials.

The mailbox behaviour itself is in ``test_mailbox_faces.py`` (run on REST and SOAP alike); here
are what only SOAP has: the WSDL as zeep reads it, hand-written envelopes (hostile ones too),
WS-Security, and Faults that carry the hub's stable codes and are recorded as refusals.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from gateway.config import PROJECT_ROOT
from gateway.domain.error_messages import MESSAGES
from gateway.domain.model import ApplicantType
from gateway.faces.soap.operations import MAX_INLINE_ATTACHMENT_BYTES
from gateway.faces.soap.security import PASSWORD_DIGEST, PASSWORD_TEXT, WSSE
from gateway.simulators.edms import Edms, Refused, signed_answer
from gateway.simulators.edms_soap import SoapEdms
from gateway.simulators.portal import give_feedback, push, withdraw
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal, sample_co_applicants
from tests.conftest import CERT_AGENCY, CLIENT_CERT_SHA256, OPERATOR_TOKEN

CHEBOKSARY = "ADM-CHEBOKSARY"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:appeals-gateway:sed:1"
ENDPOINT = "/sed/soap/v1"
SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd")))


@pytest.fixture
def client(hub_url, hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=60) as c:
        yield c


@pytest.fixture
def token(registry) -> str:
    return registry[1][CHEBOKSARY]


@pytest.fixture
def soap_edms(hub_url, hub, token) -> Iterator[SoapEdms]:
    edms = SoapEdms(hub_url, CHEBOKSARY, token)
    yield edms
    edms.close()


def _username_token(username: str, password: str, kind: str = PASSWORD_TEXT) -> str:
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{username}</wsse:Username>'
        f'<wsse:Password Type="{kind}">{password}</wsse:Password></wsse:UsernameToken></wsse:Security>'
    )


def _envelope(payload: str, header: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP}" xmlns:sed="{NS}">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{payload}</soap:Body></soap:Envelope>"
    ).encode()


def _call(client: httpx.Client, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(
        ENDPOINT, content=body, headers={"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
    )


def _payload(response: httpx.Response) -> etree._Element:
    """The one element in the Body of a successful call, checked against the published schema."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"  # one charset: WCF refuses two
    (payload,) = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")
    SCHEMA.assertValid(payload)
    return payload


def _fault(response: httpx.Response) -> tuple[str, str, str | None]:
    """(faultcode, stable code, pointer) of a Fault, which SOAP 1.1 sends with HTTP 500."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"  # one charset: WCF refuses two
    fault = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, response.text
    assert fault.findtext("faultstring")
    error = fault.find(f"detail/{{{NS}}}Error")
    SCHEMA.assertValid(error)
    code = error.findtext(f"{{{NS}}}Code")
    # What the code means, in Russian then English, for the EDMS's operators.
    descriptions = [(d.get("lang"), d.text) for d in error.findall(f"{{{NS}}}Description")]
    assert descriptions == list(zip(("ru", "en"), MESSAGES[code], strict=True)), descriptions
    return fault.findtext("faultcode"), code, error.findtext(f"{{{NS}}}Pointer")


def _refusals(hub) -> list[tuple[str, str, int]]:
    with hub.pool.connection() as conn:
        rows = conn.execute("SELECT face, path, code, status FROM request_refusal ORDER BY id").fetchall()
    assert {(r["face"], r["path"]) for r in rows} <= {("sed-soap", ENDPOINT)}
    return [(r["code"], r["status"]) for r in rows]


def _push(client: httpx.Client, portal, **kwargs) -> str:
    response = push(client, portal.envelope(sample_appeal(1, **kwargs)))
    assert response.status_code == 201, response.text
    return response.json()["appeal_id"]


# --- the contract -----------------------------------------------------------------------------


def test_zeep_builds_a_client_from_the_published_wsdl(hub_url, hub):
    client = zeep.Client(hub_url + ENDPOINT + "?wsdl")
    (service,) = client.wsdl.services.values()
    (port,) = service.ports.values()
    assert port.binding_options["address"] == hub_url + ENDPOINT
    assert set(port.binding._operations) == {
        "GetMessages", "Ack", "AckBatch", "GetQueueStatistics", "GetAttachment", "SendEvent",
        "UploadStatuses", "ReissueAccessCode",
    }  # fmt: skip


def test_the_schema_is_served_beside_the_wsdl(client, hub_url):
    contract = client.get(ENDPOINT + "?wsdl")
    assert contract.headers["content-type"] == "text/xml; charset=utf-8"
    wsdl = etree.fromstring(contract.content)
    (schema_import,) = wsdl.iter("{http://www.w3.org/2001/XMLSchema}import")
    location = schema_import.get("schemaLocation")
    assert location == f"{hub_url}{ENDPOINT}?xsd=sed-service-1.xsd"
    served = client.get(location)
    assert served.status_code == 200
    assert served.headers["content-type"] == "text/xml; charset=utf-8"
    assert served.content == (PROJECT_ROOT / "schemas" / "sed-service-1.xsd").read_bytes()
    assert client.get(ENDPOINT, params={"xsd": "../config.py"}).status_code == 404


@pytest.mark.parametrize(
    ("headers", "address"),
    [
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sed.example.org"}, "https://sed.example.org"),
        ({"X-Forwarded-Host": "gw.example.org:8443, internal:80"}, "http://gw.example.org:8443"),
        (
            {"Forwarded": 'for=192.0.2.60;proto=https;host="gw.example.org"', "X-Forwarded-Host": "other"},
            "https://gw.example.org",
        ),
        ({"X-Forwarded-Host": 'evil"/><x', "X-Forwarded-Proto": "javascript"}, None),  # ignored
    ],
)
def test_the_soap_address_is_the_one_the_client_reached(client, hub_url, headers, address):
    response = client.get(ENDPOINT + "?wsdl", headers=headers)
    assert response.status_code == 200
    (element,) = etree.fromstring(response.content).iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert element.get("location") == (address or hub_url) + ENDPOINT
    assert "X-Forwarded-Host" in response.headers["vary"]


# --- hand-written envelopes, hostile ones included ---------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol2;</soap:Body>'
    b"</soap:Envelope>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<sed:GetMessages xmlns:sed="urn:appeals-gateway:sed:1"><sed:Limit>&x;</sed:Limit></sed:GetMessages>'
    b"</soap:Body></soap:Envelope>"
)
SOAP12 = (
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
    b'<sed:GetQueueStatistics xmlns:sed="urn:appeals-gateway:sed:1"/></env:Body></env:Envelope>'
)
GET_MESSAGES = "<sed:GetMessages><sed:Limit>5</sed:Limit></sed:GetMessages>"


@pytest.mark.parametrize(
    ("body", "faultcode", "code", "pointer"),
    [
        (b"<soap:Envelope", "soap:Client", "malformed-xml", None),
        (b"", "soap:Client", "malformed-xml", None),
        (BILLION_LAUGHS, "soap:Client", "forbidden-xml-construct", None),
        (XXE, "soap:Client", "forbidden-xml-construct", None),
        (b'<?xml-stylesheet href="x"?><a/>', "soap:Client", "forbidden-xml-construct", None),
        (b"<a>" * 60 + b"</a>" * 60, "soap:Client", "xml-too-deep", None),
        (b"<appeal/>", "soap:Client", "invalid-request", "/"),
        (SOAP12, "soap:VersionMismatch", "invalid-request", "/Envelope"),
        (_envelope(""), "soap:Client", "invalid-request", "/Envelope/Body"),
        (_envelope(GET_MESSAGES + GET_MESSAGES), "soap:Client", "invalid-request", "/Envelope/Body"),
        (b"<x>" + b" " * (2 * 1024 * 1024) + b"</x>", "soap:Client", "body-too-large", None),
    ],
    ids=[
        "truncated", "empty", "billion-laughs", "xxe", "processing-instruction", "too-deep", "not-soap",
        "soap-1.2", "empty-body", "two-operations", "oversize",
    ],
)  # fmt: skip
def test_bad_envelopes_are_client_faults_with_stable_codes(
    client, hub, token, body, faultcode, code, pointer
):
    response = _call(client, body, {"Authorization": f"Bearer {token}"})
    assert _fault(response) == (faultcode, code, pointer)
    assert b"Traceback" not in response.content
    assert _refusals(hub) == [(code, 413 if code == "body-too-large" else 400)]


@pytest.mark.parametrize(
    ("payload", "code", "pointer"),
    [
        ('<GetMessages xmlns="urn:other"><Limit>5</Limit></GetMessages>', "invalid-request",
         "/Envelope/Body/GetMessages"),
        ("<sed:GetRequest/>", "invalid-request", "/Envelope/Body/GetRequest"),
        ("<sed:GetMessagesResponse/>", "invalid-request", "/Envelope/Body/GetMessagesResponse"),
        ("<sed:GetMessages><sed:Limit>abc</sed:Limit></sed:GetMessages>", "schema-violation", "/Limit"),
        ("<sed:GetMessages/>", "schema-violation", "/"),
        ("<sed:Ack><sed:MessageId>nope</sed:MessageId></sed:Ack>", "schema-violation", "/MessageId"),
        (f"<sed:SendEvent><sed:AppealId>{uuid.uuid4()}</sed:AppealId><sed:Event/></sed:SendEvent>",
         "schema-violation", "/Event"),
        ("<sed:GetMessages><sed:Limit>0</sed:Limit></sed:GetMessages>", "invalid-request", "/limit"),
    ],
    ids=[
        "wrong-namespace", "unknown-operation", "a-response", "limit-not-a-number", "limit-missing",
        "bad-uuid", "no-event", "limit-out-of-range",
    ],
)  # fmt: skip
def test_unknown_or_invalid_operations_are_client_faults(client, hub, token, payload, code, pointer):
    response = _call(client, _envelope(payload, _username_token(CHEBOKSARY, token)))
    assert _fault(response) == ("soap:Client", code, pointer)
    assert b"abc" not in response.content  # the refused value is never echoed
    assert _refusals(hub) == [(code, 400)]


def test_concurrent_invalid_requests_each_get_their_own_pointer(hub_url, hub, token):
    """Schema errors must not leak between requests validated at the same time on other threads."""
    cases = {
        "/Limit": "<sed:GetMessages><sed:Limit>abc</sed:Limit></sed:GetMessages>",
        "/LeaseSeconds": "<sed:GetMessages><sed:Limit>1</sed:Limit><sed:LeaseSeconds>x</sed:LeaseSeconds>"
        "</sed:GetMessages>",
        "/N": f"<sed:GetAttachment><sed:AppealId>{uuid.uuid4()}</sed:AppealId><sed:N>x</sed:N>"
        "</sed:GetAttachment>",
    }

    def hammer(pointer: str) -> set[tuple[str, str, str | None]]:
        with httpx.Client(base_url=hub_url, timeout=60) as own:
            body = _envelope(cases[pointer], _username_token(CHEBOKSARY, token))
            return {_fault(_call(own, body)) for _ in range(15)}

    pointers = list(cases) * 2
    with ThreadPoolExecutor(len(pointers)) as pool:
        for pointer, seen in zip(pointers, pool.map(hammer, pointers), strict=True):
            assert seen == {("soap:Client", "schema-violation", pointer)}


def test_a_header_the_hub_must_understand_but_cannot_is_a_must_understand_fault(client, hub, token):
    header = '<t:Transaction xmlns:t="urn:example" soap:mustUnderstand="1">5</t:Transaction>'
    response = _call(client, _envelope(GET_MESSAGES, header), {"Authorization": f"Bearer {token}"})
    assert _fault(response) == ("soap:MustUnderstand", "invalid-request", "/Envelope/Header/Transaction")
    optional = '<t:Trace xmlns:t="urn:example">5</t:Trace>'
    answer = _call(client, _envelope(GET_MESSAGES, optional), {"Authorization": f"Bearer {token}"})
    assert _payload(answer).tag == f"{{{NS}}}GetMessagesResponse"


# --- credentials ------------------------------------------------------------------------------


def test_a_username_token_with_the_agency_code_and_token_authenticates(client, hub, portal, token):
    appeal_id = _push(client, portal)
    payload = _payload(_call(client, _envelope(GET_MESSAGES, _username_token(CHEBOKSARY, token))))
    (message,) = payload.iterfind(f"{{{NS}}}Message")
    assert message.findtext(f"{{{NS}}}AppealId") == appeal_id
    untyped = _username_token(CHEBOKSARY, token).replace(f' Type="{PASSWORD_TEXT}"', "")  # the default
    assert (
        _payload(_call(client, _envelope("<sed:GetQueueStatistics/>", untyped))).tag
        == f"{{{NS}}}GetQueueStatisticsResponse"
    )
    assert _refusals(hub) == []


def test_a_bearer_header_authenticates_and_zeep_can_send_one(client, hub, hub_url, portal, token):
    _push(client, portal)
    (message,) = _payload(_call(client, _envelope(GET_MESSAGES), {"Authorization": f"Bearer {token}"}))
    edms = SoapEdms(hub_url, CHEBOKSARY, token, wsse=False)
    try:
        assert edms.statistics()["leased"] == 1
        assert (
            edms.ack_one(message.findtext(f"{{{NS}}}MessageId"), message.findtext(f"{{{NS}}}LeaseToken"))
            == "acknowledged"
        )
    finally:
        edms.close()


def test_a_forwarded_client_certificate_authenticates(client, portal):
    _push(client, portal, topic_code="0003.0009.0001.0001")  # health: MINZDRAV-21
    response = _call(client, _envelope(GET_MESSAGES), {"X-Client-Cert-Sha256": CLIENT_CERT_SHA256})
    (message,) = _payload(response).iterfind(f"{{{NS}}}Message")
    assert message.findtext(f"{{{NS}}}Appeal/{{{NS}}}TopicCode").startswith("0003.0009")
    assert CERT_AGENCY == "MINZDRAV-21"


@pytest.mark.parametrize(
    ("header", "http", "pointer"),
    [
        ("", {}, None),
        ("", {"Authorization": "Bearer not-a-token"}, None),
        ("", {"Authorization": f"Bearer {OPERATOR_TOKEN}"}, None),  # operators are not agencies
        ("username-of-another-agency", {}, None),
        ("wrong-password", {}, None),
        ("digest", {}, "/Envelope/Header/Security/UsernameToken/Password"),
        ("no-password", {}, "/Envelope/Header/Security/UsernameToken"),
        ("two-tokens", {}, "/Envelope/Header/Security/UsernameToken"),
    ],
)
def test_callers_must_authenticate_as_an_agency(client, hub, registry, token, header, http, pointer):
    headers = {
        "": "",
        "username-of-another-agency": _username_token("MINSTROY-21", token),
        "wrong-password": _username_token(CHEBOKSARY, "not-the-token"),
        "digest": _username_token(CHEBOKSARY, base64.b64encode(b"x" * 20).decode(), PASSWORD_DIGEST),
        "no-password": f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>'
        f"{CHEBOKSARY}</wsse:Username></wsse:UsernameToken></wsse:Security>",
        "two-tokens": _username_token(CHEBOKSARY, token) * 2,
    }
    response = _call(client, _envelope(GET_MESSAGES, headers[header]), http)
    assert _fault(response) == ("soap:Client", "unauthenticated", pointer)
    if header == "digest":
        assert b"PasswordDigest is not supported" in response.content
    assert token.encode() not in response.content
    assert _refusals(hub) == [("unauthenticated", 401)]


def test_zeep_sending_a_password_digest_is_told_why_it_is_refused(hub_url, hub, token):
    digest = UsernameToken(CHEBOKSARY, token, use_digest=True)
    client = zeep.Client(hub_url + ENDPOINT + "?wsdl", wsse=digest)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.GetQueueStatistics()
    assert "PasswordDigest is not supported" in fault.value.message
    assert fault.value.detail.findtext(f"{{{NS}}}Error/{{{NS}}}Code") == "unauthenticated"


def test_a_username_token_takes_the_place_of_a_bearer_header(client, registry, token):
    other = registry[1]["MINSTROY-21"]
    body = _envelope(GET_MESSAGES, _username_token(CHEBOKSARY, "wrong"))
    assert _fault(_call(client, body, {"Authorization": f"Bearer {token}"}))[1] == "unauthenticated"
    answer = _call(client, _envelope(GET_MESSAGES, _username_token("MINSTROY-21", other)))
    assert _payload(answer).tag == f"{{{NS}}}GetMessagesResponse"


# --- what only the SOAP face does ---------------------------------------------------------------


def test_soap_and_rest_give_the_same_appeal(client, portal, hub_url, token, soap_edms):
    scan = b"%PDF-1.7 scan"
    header = attachment_header("scan-1", "скан.pdf", "application/pdf", scan)
    appeal = sample_appeal(1, applicant_type=ApplicantType.LEGAL_ENTITY, attachments=(header,))
    envelope = portal.envelope(appeal, sign_as_applicant=True)
    response = push(client, envelope, {"scan-1": ("скан.pdf", scan, "application/pdf")})
    assert response.status_code == 201, response.text
    (over_soap,) = soap_edms.pull(lease_seconds=1)
    time.sleep(1.3)
    (over_rest,) = Edms(client, token).pull()
    assert over_soap["appeal"] == over_rest["appeal"]
    assert over_soap["appeal"]["applicant"]["organisation"]["scheme"] == "OGRN"
    assert over_soap["attachments"] == over_rest["attachments"]
    assert over_soap["signed_xml_base64"] == over_rest["signed_xml_base64"]
    same = ("message_id", "kind", "appeal_id", "received_at")
    assert {k: over_soap[k] for k in same} == {k: over_rest[k] for k in same}


def test_a_collective_appeal_names_its_co_applicants_and_the_contact_on_both_faces(
    client, portal, hub_url, token, soap_edms
):
    _push(client, portal, co_applicants=sample_co_applicants(2, contact=0))
    auth = _username_token(CHEBOKSARY, token)
    short = (
        "<sed:GetMessages><sed:Limit>5</sed:Limit><sed:LeaseSeconds>1</sed:LeaseSeconds></sed:GetMessages>"
    )
    (message,) = _payload(_call(client, _envelope(short, auth)))  # valid against the 1.1 schema
    co = message.findall(f"{{{NS}}}Appeal/{{{NS}}}CoApplicants/{{{NS}}}CoApplicant")
    assert [c.findtext(f"{{{NS}}}SubjectId") for c in co] == ["co-subject-1", "co-subject-2"]
    assert [c.findtext(f"{{{NS}}}Contact") for c in co] == ["true", "false"]
    time.sleep(1.3)
    (over_soap,) = soap_edms.pull(lease_seconds=1)
    time.sleep(1.3)
    (over_rest,) = Edms(client, token).pull()
    assert over_soap["appeal"] == over_rest["appeal"]
    first = over_rest["appeal"]["co_applicants"][0]
    assert (first["identity_provider"], first["subject_id"], first["contact"]) == (
        "esia",
        "co-subject-1",
        True,
    )
    assert first["person"] == {"last_name": "Иванов", "first_name": "Пётр", "middle_name": "Ильич"}


def test_a_repeated_appeal_shows_its_earlier_one_on_both_faces_and_both_decline_citing_it(
    client, portal, token, soap_edms
):
    rest = Edms(client, token)
    first, second, third = (_push(client, portal) for _ in range(3))  # one applicant, topic, agency
    (taken,) = [m for m in rest.pull(lease_seconds=1) if m["appeal_id"] == first]
    rest.ack([taken])
    rest.register(first, "ОГ-500", date.today(), "reg-500")
    time.sleep(1.3)
    short = (
        "<sed:GetMessages><sed:Limit>5</sed:Limit><sed:LeaseSeconds>1</sed:LeaseSeconds></sed:GetMessages>"
    )
    payload = _payload(_call(client, _envelope(short, _username_token(CHEBOKSARY, token))))  # 1.1-valid
    links = {
        m.findtext(f"{{{NS}}}AppealId"): [
            e.findtext(f"{{{NS}}}AppealId") for e in m.iterfind(f"{{{NS}}}Appeal/{{{NS}}}EarlierAppeals/*")
        ]
        for m in payload
    }
    assert links == {second: [first], third: [first, second]}
    time.sleep(1.3)
    over_soap = {m["appeal_id"]: m for m in soap_edms.pull(lease_seconds=1)}
    time.sleep(1.3)
    over_rest = {m["appeal_id"]: m for m in rest.pull()}
    assert over_soap[third]["appeal"] == over_rest[third]["appeal"]
    (link,) = over_rest[second]["appeal"]["earlier_appeals"]  # as it stood when the second came
    assert (link["appeal_id"], link["state"], link["registration_number"]) == (first, "routed", None)
    rest.ack(list(over_rest.values()))
    for appeal_id, number, edms in ((second, "ОГ-501", rest), (third, "ОГ-502", soap_edms)):
        edms.register(appeal_id, number, date.today(), "reg-" + number)
        edms.send_event(appeal_id, "declined", "dec-" + number, ground="repeated", earlier_appeal_id=first)
    with pytest.raises(Refused) as refused:
        soap_edms.send_event(first, "declined", "dec-500", ground="repeated", earlier_appeal_id=third)
    assert (refused.value.code, refused.value.pointer) == ("invalid-request", "/earlier_appeal_id")


def test_an_appeal_of_one_applicant_has_no_co_applicants_element(client, portal, token):
    _push(client, portal)
    (message,) = _payload(_call(client, _envelope(GET_MESSAGES, _username_token(CHEBOKSARY, token))))
    assert message.find(f"{{{NS}}}Appeal/{{{NS}}}CoApplicants") is None


def test_every_response_is_valid_against_the_published_schema(client, portal, token):
    scan = b"%PDF-1.4\n" + b"scan" * 100
    header = attachment_header("scan-1", "scan.pdf", "application/pdf", scan)
    push(
        client,
        portal.envelope(sample_appeal(1, attachments=(header,))),
        {"scan-1": ("scan.pdf", scan, "application/pdf")},
    )
    auth = _username_token(CHEBOKSARY, token)
    (message,) = _payload(_call(client, _envelope(GET_MESSAGES, auth)))
    ids = {local: message.findtext(f"{{{NS}}}{local}") for local in ("MessageId", "LeaseToken", "AppealId")}
    ack = (
        f"<sed:MessageId>{ids['MessageId']}</sed:MessageId>"
        f"<sed:LeaseToken>{ids['LeaseToken']}</sed:LeaseToken>"
    )
    registered = (
        f"<sed:AppealId>{ids['AppealId']}</sed:AppealId><sed:Event><sed:Registered><sed:EventId>e-1</sed:EventId>"
        "<sed:RegistrationNumber>ОГ-1</sed:RegistrationNumber><sed:RegisteredOn>2026-01-15+03:00</sed:RegisteredOn>"
        "</sed:Registered></sed:Event>"
    )
    for payload, local in (
        (f"<sed:Ack>{ack}</sed:Ack>", "AckResponse"),
        (f"<sed:AckBatch><sed:Ack>{ack}</sed:Ack><sed:Ack>{ack}</sed:Ack></sed:AckBatch>",
         "AckBatchResponse"),
        ("<sed:GetQueueStatistics/>", "GetQueueStatisticsResponse"),
        (f"<sed:GetAttachment><sed:AppealId>{ids['AppealId']}</sed:AppealId><sed:N>1</sed:N></sed:GetAttachment>",
         "GetAttachmentResponse"),
        (f"<sed:SendEvent>{registered}</sed:SendEvent>", "SendEventResponse"),
    ):  # fmt: skip
        assert _payload(_call(client, _envelope(payload, auth))).tag == f"{{{NS}}}{local}"


def test_notices_are_valid_against_the_published_schema(client, portal, token, registry, dev_pki):
    portal_token = registry[1]["EPGU"]
    answered, withdrawn = (
        push(client, portal.envelope(sample_appeal(n))).json()["appeal_id"] for n in (1, 2)
    )
    edms = Edms(client, token)
    edms.ack(edms.pull(limit=10))
    edms.register(answered, "ОГ-1", date.today(), "reg-1")
    signer = dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    edms.answer(answered, "ans-1", sample_answer(answered, "ОГ-1"), *signer)
    assert give_feedback(client, portal_token, answered, "f-1", 3, "Ответ неполный").status_code == 201
    assert withdraw(client, portal_token, withdrawn, "w-1").status_code == 201

    auth = _username_token(CHEBOKSARY, token)
    messages = _payload(_call(client, _envelope(GET_MESSAGES, auth)))  # validated by the schema
    notices = {m.findtext(f"{{{NS}}}Kind"): m for m in messages}
    assert sorted(notices) == ["feedback", "withdrawal"]
    assert notices["feedback"].findtext(f"{{{NS}}}Feedback/{{{NS}}}Rating") == "3"
    assert notices["withdrawal"].find(f"{{{NS}}}Withdrawal/{{{NS}}}Reason") is None
    assert notices["withdrawal"].findtext(f"{{{NS}}}Withdrawal/{{{NS}}}Seq") == "1"


def test_attachments_too_large_for_soap_are_refused_and_left_to_rest(client, hub, portal, soap_edms, token):
    scan = b"II*\x00" + b"\x00" * (MAX_INLINE_ATTACHMENT_BYTES + 1)  # a TIFF header, then zeros
    header = attachment_header("scan-1", "big.tiff", "image/tiff", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    assert push(client, envelope, {"scan-1": ("big.tiff", scan, "image/tiff")}).status_code == 201
    (message,) = soap_edms.pull()
    (ref,) = message["attachments"]
    with pytest.raises(Refused) as refused:
        soap_edms.download((message["appeal_id"], 1))
    assert (refused.value.status, refused.value.code, refused.value.pointer) == (
        500,
        "attachment-too-large",
        "/n",
    )
    assert _refusals(hub) == [("attachment-too-large", 413)]
    assert Edms(client, token).download(ref["href"]) == (len(scan), header.sha256)


# --- the answered event: inline files -----------------------------------------------------------


@pytest.fixture
def registered(client, portal, soap_edms) -> str:
    appeal_id = _push(client, portal)
    soap_edms.register(appeal_id, "ОГ-1", date.today(), "reg-1")
    return appeal_id


@pytest.fixture
def signer(dev_pki) -> tuple[bytes, bytes]:
    return dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()


def test_a_hand_written_answered_event_carries_the_signed_answer_and_its_files_in_base64(
    client, hub, token, registered, signer
):
    act = b"%PDF-1.7 act of inspection"
    signed = signed_answer(sample_answer(registered, "ОГ-1", files={"act-1": act}), *signer)
    payload = (
        f"<sed:SendEvent><sed:AppealId>{registered}</sed:AppealId><sed:Event><sed:Answered>"
        f"<sed:EventId>ans-1</sed:EventId><sed:AnswerDocument>{base64.b64encode(signed).decode()}</sed:AnswerDocument>"
        f"<sed:Attachments><sed:Attachment><sed:ContentId>act-1</sed:ContentId>"
        f"<sed:Content>{base64.b64encode(act).decode()}</sed:Content></sed:Attachment></sed:Attachments>"
        "</sed:Answered></sed:Event></sed:SendEvent>"
    )
    response = _payload(_call(client, _envelope(payload, _username_token(CHEBOKSARY, token))))
    assert (response.findtext(f"{{{NS}}}Type"), response.findtext(f"{{{NS}}}State")) == (
        "answered",
        "answered",
    )


def test_inline_answer_files_are_capped_together_and_left_to_rest(hub, soap_edms, registered, signer):
    half = MAX_INLINE_ATTACHMENT_BYTES // 2 + 1  # each fits, together they do not
    files = {"scan-1": b"\x01" * half, "scan-2": b"\x02" * half}
    document = sample_answer(registered, "ОГ-1", files=files)
    with pytest.raises(Refused) as refused:
        soap_edms.answer(registered, "ans-1", document, *signer, files=files)
    assert (refused.value.code, refused.value.pointer) == ("attachment-too-large", "/attachments/1")
    assert _refusals(hub) == [("attachment-too-large", 413)]


def test_two_inline_files_under_one_content_id_are_refused(soap_edms, registered, signer):
    document = sample_answer(registered, "ОГ-1", files={"act-1": b"%PDF"})
    answer = signed_answer(document, *signer)
    attachments = [{"ContentId": "act-1", "Content": b"%PDF"}] * 2
    with pytest.raises(Refused) as refused:
        soap_edms._call(
            "SendEvent",
            AppealId=registered,
            Event={
                "Answered": {
                    "EventId": "ans-1",
                    "AnswerDocument": answer,
                    "Attachments": {"Attachment": attachments},
                }
            },
        )
    assert (refused.value.code, refused.value.pointer) == ("invalid-request", "/attachments/1")


def test_only_an_answer_may_exceed_the_usual_request_size(client, hub, token):
    padding = "<!--" + "x" * (2 * 1024 * 1024) + "-->"
    body = _envelope(GET_MESSAGES + padding, _username_token(CHEBOKSARY, token))
    assert _fault(_call(client, body)) == ("soap:Client", "body-too-large", None)
    assert _refusals(hub) == [("body-too-large", 413)]
