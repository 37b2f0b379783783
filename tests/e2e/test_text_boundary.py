"""Hostile text against every free-text field of both faces, on a real hub process: never a 5xx.

A string the hub's text rule refuses (NUL, a lone UTF-16 surrogate, another C0 control but TAB, LF
and CR, U+FFFE/U+FFFF, or more than ``MAX_CHARS`` characters) must come back as REST ``400``
``invalid-request`` with the field's pointer, or as a SOAP ``soap:Client`` fault; any other string
(right-to-left marks, emoji, C1 controls, mixed scripts) may be refused by the field's own rules
but must never make the hub fail. The refusal is decided here independently of the hub's code.

Hypothesis is derandomized (a fixed seed per test, no example database), so CI sees the same
examples every run; each field group gets a few dozen of them.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.config import PROJECT_ROOT
from gateway.domain.text import MAX_CHARS
from tests.conftest import OPERATOR_TOKEN

CHEBOKSARY = "ADM-CHEBOKSARY"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:appeals-gateway:sed:1"
SED = "{urn:appeals-gateway:sed:1}"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))

# --- what the rule refuses, written out independently of gateway.domain.text -------------------


def _refused_char(c: str) -> bool:
    n = ord(c)
    return n == 0 or 0xD800 <= n <= 0xDFFF or (n < 0x20 and c not in "\t\n\r") or n in (0xFFFE, 0xFFFF)


def refused(text: str) -> bool:
    return any(_refused_char(c) for c in text) or len(text) > MAX_CHARS


def refused_characters(text: str) -> bool:
    return any(_refused_char(c) for c in text)


# --- hostile strings ---------------------------------------------------------------------------

SPECIALS = [
    "\x00", "a\x00b", "\ud800", "\udfff", "x\udc00y", "\ud83d", "\x01", "\x1b[31m", "\x7f", "\x85",
    "\ufffe", "\uffff", "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd", "😀👍🏽", "\U0010ffff",
    "\t\n\r", "Иванов И.И.", "\u0301\u0301", "\ufeff", "<>&\"'", "%00", "\\u0000",
]  # fmt: skip
ANY_CHAR = st.characters(exclude_categories=())  # surrogates and controls included
HOSTILE = st.one_of(
    st.sampled_from(SPECIALS),
    st.text(ANY_CHAR, max_size=30),
    st.builds(
        lambda head, special, tail: head + special + tail,
        st.text(ANY_CHAR, max_size=8),
        st.sampled_from(SPECIALS),
        st.text(ANY_CHAR, max_size=8),
    ),
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["x", "я", "😀", "\u202e"]),
        st.sampled_from([MAX_CHARS - 1, MAX_CHARS, MAX_CHARS + 1, 3 * MAX_CHARS]),
    ),
)
# A URL carries less (httpx refuses one over 64 KiB): around the limit in one- and two-byte letters.
HOSTILE_IN_URL = st.one_of(
    st.sampled_from(SPECIALS),
    st.text(ANY_CHAR, max_size=30),
    st.sampled_from(["x" * MAX_CHARS, "x" * (MAX_CHARS + 1), "я" * (MAX_CHARS + 1)]),
)
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(hub_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(registry) -> dict[str, str]:
    return registry[1]


def _problem(response: httpx.Response) -> tuple[int, str, str | None]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    return response.status_code, body["code"], body.get("pointer")


def assert_rest(response: httpx.Response, text: str, pointer: str) -> None:
    """No 5xx ever; a refused text is a 400 ``invalid-request`` pointing at its field (or a 413
    when the whole body is over its byte limit, as an event's 64 KiB, before any field is read)."""
    assert response.status_code < 500, response.text
    if response.status_code == 413 and len(response.request.content) > 64 * 1024:
        assert _problem(response) == (413, "body-too-large", None)
    elif refused(text):
        assert _problem(response) == (400, "invalid-request", pointer)


def _post_json(client: httpx.Client, path: str, body: Any, token: str) -> httpx.Response:
    """JSON as a client may send it: ``json.dumps`` escapes lone surrogates as ``\\ud800``."""
    return client.post(
        path,
        content=json.dumps(body).encode("ascii"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )


def _as_sent(text: str) -> str:
    """What the hub reads from a percent-encoded URL: bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _url_quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# --- REST: JSON bodies -------------------------------------------------------------------------

_NOW = datetime.now(UTC).replace(microsecond=0)


def _status_record(**fields: str) -> dict[str, str]:
    return {
        "registration_number": "ТБ-1",
        "registered_on": (date.today() - timedelta(days=2)).isoformat(),
        "channel": "post",
        "state": "registered",
        "at": (_NOW - timedelta(days=1)).isoformat(),
        **fields,
    }


def _uuid() -> str:
    return str(uuid.uuid4())


# (name, token kind, path, body with the text, its pointer)
JsonField = tuple[str, str, Callable[[], str], Callable[[str], Any], str]
JSON_FIELDS: list[JsonField] = [
    ("ack reason", CHEBOKSARY, lambda: f"/sed/v1/messages/{_uuid()}/ack",
     lambda s: {"lease_token": _uuid(), "accepted": False, "reason": s}, "/reason"),
    ("batch ack reason", CHEBOKSARY, lambda: "/sed/v1/messages/ack",
     lambda s: {"acks": [{"message_id": _uuid(), "lease_token": _uuid(), "accepted": False, "reason": s}]},
     "/acks/0/reason"),
    ("event comment", CHEBOKSARY, lambda: f"/sed/v1/appeals/{_uuid()}/events",
     lambda s: {"event_id": "e-1", "type": "declined", "ground": "anonymous", "comment": s}, "/comment"),
    ("event executor", CHEBOKSARY, lambda: f"/sed/v1/appeals/{_uuid()}/events",
     lambda s: {"event_id": "e-1", "type": "assigned", "executor": s}, "/executor"),
    ("event reason", CHEBOKSARY, lambda: f"/sed/v1/appeals/{_uuid()}/events",
     lambda s: {"event_id": "e-1", "type": "extended", "new_due_date": "2030-01-10", "reason": s}, "/reason"),
    ("event id", CHEBOKSARY, lambda: f"/sed/v1/appeals/{_uuid()}/events",
     lambda s: {"event_id": s, "type": "closed"}, "/event_id"),
    ("status reason", CHEBOKSARY, lambda: "/sed/v1/statuses",
     lambda s: {"records": [_status_record(reason=s)]}, "/records/0/reason"),
    ("status number", CHEBOKSARY, lambda: "/sed/v1/statuses",
     lambda s: {"records": [_status_record(registration_number=s)]}, "/records/0/registration_number"),
    ("access code number", CHEBOKSARY, lambda: "/sed/v1/statuses/access-code",
     lambda s: {"registration_number": s}, "/registration_number"),
    ("withdrawal reason", "EPGU", lambda: f"/portal/v1/appeals/{_uuid()}/withdrawal",
     lambda s: {"withdrawal_id": "w-1", "reason": s}, "/reason"),
    ("withdrawal id", "EPGU", lambda: f"/portal/v1/appeals/{_uuid()}/withdrawal",
     lambda s: {"withdrawal_id": s}, "/withdrawal_id"),
    ("feedback comment", "EPGU", lambda: f"/portal/v1/appeals/{_uuid()}/feedback",
     lambda s: {"feedback_id": "f-1", "rating": 4, "comment": s}, "/comment"),
    ("operator's agency code", "operator", lambda: f"/ops/v1/appeals/{_uuid()}/assign",
     lambda s: {"agency_code": s}, "/agency_code"),
    ("a member's name", CHEBOKSARY, lambda: f"/sed/v1/messages/{_uuid()}/ack",
     lambda s: {"lease_token": _uuid(), s: "x"}, "/"),
]  # fmt: skip


def _token(tokens: dict[str, str], kind: str) -> str:
    return OPERATOR_TOKEN if kind == "operator" else tokens[kind]


@pytest.mark.parametrize("field", JSON_FIELDS, ids=[f[0] for f in JSON_FIELDS])
@PROPERTY
@given(text=HOSTILE)
def test_json_body_fields_refuse_bad_text_with_their_pointer_and_never_fail(client, tokens, field, text):
    _, kind, path, body, pointer = field
    assert_rest(_post_json(client, path(), body(text), _token(tokens, kind)), text, pointer)


# --- REST: query and path parameters ----------------------------------------------------------

QueryField = tuple[str, str, str, dict[str, str], str]
QUERY_FIELDS: list[QueryField] = [
    ("ops connector", "operator", "/ops/v1/deliveries", {}, "connector"),
    ("ops timeline ref", "operator", "/ops/v1/timeline", {}, "ref"),
    ("SOAP contract xsd", CHEBOKSARY, "/sed/soap/v1", {}, "xsd"),
    ("lease limit", CHEBOKSARY, "/sed/v1/messages", {}, "limit"),
]


@pytest.mark.parametrize("field", QUERY_FIELDS, ids=[f[0] for f in QUERY_FIELDS])
@PROPERTY
@given(text=HOSTILE_IN_URL)
def test_query_parameters_refuse_bad_text_by_name_and_never_fail(client, tokens, field, text):
    _, kind, path, others, name = field
    query = "&".join(f"{k}={_url_quote(v)}" for k, v in {**others, name: text}.items())
    response = client.get(f"{path}?{query}", headers={"Authorization": f"Bearer {_token(tokens, kind)}"})
    assert_rest(response, _as_sent(text), "/" + name)


@PROPERTY
@given(text=HOSTILE_IN_URL)
def test_path_parameters_refuse_bad_text_by_name_and_never_fail(client, tokens, text):
    path = f"/portal/v1/appeals/{_uuid()}/answer/attachments/{_url_quote(text)}"
    response = client.get(path, headers={"Authorization": f"Bearer {tokens['EPGU']}"})
    assert response.status_code < 500, response.text
    seen = _as_sent(text)
    if refused(seen) and "/" not in seen:  # a slash takes the request to no route: 404
        assert _problem(response) == (400, "invalid-request", "/content_id")


# --- REST: the answered event's multipart body -------------------------------------------------


def _multipart(parts: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    boundary = "b0undary-" + uuid.uuid4().hex
    body = b"".join(
        b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary.encode(), name, data)
        for name, data in parts
    )
    return body + b"--%s--\r\n" % boundary.encode(), f"multipart/form-data; boundary={boundary}"


def _post_multipart(client: httpx.Client, token: str, parts: list[tuple[bytes, bytes]]) -> httpx.Response:
    body, content_type = _multipart(parts)
    return client.post(
        f"/sed/v1/appeals/{_uuid()}/events",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )


@PROPERTY
@given(text=HOSTILE)
def test_the_answered_events_json_part_is_held_to_the_rule(client, tokens, text):
    event = json.dumps({"event_id": "a-1", "type": "answered", "comment": text}).encode("ascii")
    parts = [(b"event", event), (b"answer", b"<not-signed/>")]
    assert_rest(_post_multipart(client, tokens[CHEBOKSARY], parts), text, "/comment")


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("a\x00b", ("invalid-request", "/parts/2/name")),
        ("a\x01b", ("invalid-request", "/parts/2/name")),
        # python-multipart bounds a header line before the rule sees the name
        ("\x7f" * (MAX_CHARS + 1), ("malformed-multipart", None)),
    ],
    ids=["NUL", "control character", "too long"],
)
def test_a_multipart_part_name_is_held_to_the_rule(client, tokens, name, refusal):
    event = json.dumps({"event_id": "a-1", "type": "answered"}).encode()
    parts = [(b"event", event), (b"answer", b"<not-signed/>"), (name.encode(), b"scan")]
    response = _post_multipart(client, tokens[CHEBOKSARY], parts)
    assert _problem(response) == (400, *refusal)


# --- REST: the three fields the issue found, by example -----------------------------------------


def test_an_ack_refusal_reason_with_nul_is_a_400_and_the_message_can_still_be_refused(
    client, tokens, hub, portal
):
    from gateway.simulators.edms import Edms
    from gateway.simulators.portal import push
    from gateway.simulators.samples import sample_appeal

    edms = Edms(client, tokens[CHEBOKSARY])
    assert push(client, portal.envelope(sample_appeal(1))).status_code == 201
    (message,) = edms.pull()
    url = f"/sed/v1/messages/{message['message_id']}/ack"
    bad = {"lease_token": message["lease_token"], "accepted": False, "reason": "дубль\u0000"}
    assert _problem(_post_json(client, url, bad, tokens[CHEBOKSARY])) == (400, "invalid-request", "/reason")
    assert edms.ack_one(message["message_id"], message["lease_token"], False, "дубль") == "refused"


def test_a_status_upload_reason_with_nul_is_a_400_and_nothing_is_stored(client, tokens, hub):
    records = [_status_record(registration_number="ТБ-NUL", reason="на\u0000рассмотрении")]
    response = _post_json(client, "/sed/v1/statuses", {"records": records}, tokens[CHEBOKSARY])
    assert _problem(response) == (400, "invalid-request", "/records/0/reason")
    good = _post_json(client, "/sed/v1/statuses", {"records": [_status_record(registration_number="ТБ-NUL")]},
                      tokens[CHEBOKSARY])  # fmt: skip
    assert good.json()["records"][0]["outcome"] == "created", good.text


def test_the_operators_connector_parameter_with_nul_is_a_400(client):
    response = client.get(
        "/ops/v1/deliveries?connector=cab%00inet", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert _problem(response) == (400, "invalid-request", "/connector")


def test_a_lone_surrogate_in_json_is_refused_at_its_field_not_as_malformed_json(client, tokens):
    body = b'{"records": [{"registration_number": "\\ud800"}]}'
    response = client.post(
        "/sed/v1/statuses",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {tokens[CHEBOKSARY]}"},
    )
    assert _problem(response) == (400, "invalid-request", "/records/0/registration_number")


@pytest.mark.parametrize("path", ["/sed/v1/statuses", f"/sed/v1/appeals/{uuid.uuid4()}/events"])
def test_json_nested_thousands_deep_is_a_400_not_a_500(client, tokens, path):
    body = b'{"records": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = client.post(
        path,
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {tokens[CHEBOKSARY]}"},
    )
    assert _problem(response) == (400, "invalid-request", None)


def test_the_public_lookup_refuses_a_nul_number(client):
    response = client.get(
        "/public/v1/status?number=%00&code=ABC", headers={"X-Forwarded-For": next(_addresses)}
    )
    assert _problem(response) == (400, "invalid-request", "/number")


def test_a_client_certificate_header_out_of_bounds_is_a_400(client):
    response = client.get("/sed/v1/statistics", headers={"X-Client-Cert-Sha256": "5e" * MAX_CHARS})
    assert _problem(response) == (400, "invalid-request", "/x-client-cert-sha256")


def test_a_refused_path_is_still_recorded_as_a_refusal(client, hub):
    response = client.get("/sed/v1/%00")
    assert response.status_code == 404
    with hub.pool.connection() as conn:
        paths = [row["path"] for row in conn.execute("SELECT path FROM request_refusal")]
    assert "/sed/v1/\ufffd" in paths


# --- SOAP --------------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    """The text as XML character data; characters XML cannot carry go as character references
    (``&#0;``, ``&#xD800;``), as a hostile client would send them."""
    out = []
    for c in text:
        if c in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[c])
        elif c in "\t\n\r" or _refused_char(c):
            out.append(f"&#x{ord(c):X};")
        else:
            out.append(c)
    return "".join(out)


def _soap(payload: str, header: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:sed="{NS}">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{payload}</soap:Body></soap:Envelope>"
    ).encode("utf-8", "surrogatepass")


def _soap_call(client: httpx.Client, token: str | None, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/sed/soap/v1", content=body, headers=headers)


def _fault(response: httpx.Response) -> tuple[str, str, str | None] | None:
    """(faultcode, sed:Code, sed:Pointer) of a Fault; ``None`` for an answer."""
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None
    return (
        fault.findtext("faultcode"),
        fault.findtext(f"detail/{SED}Error/{SED}Code"),
        fault.findtext(f"detail/{SED}Error/{SED}Pointer"),
    )


def assert_soap(response: httpx.Response, text: str, pointer: str) -> None:
    """Never a ``soap:Server`` fault; refused text is a ``soap:Client`` fault: ``malformed-xml``
    when XML itself cannot carry the character, ``invalid-request`` at the field when too long."""
    fault = _fault(response)
    assert fault is None or fault[0] == "soap:Client", response.text
    if refused_characters(text):
        assert fault == ("soap:Client", "malformed-xml", None), response.text
    elif refused(text):
        assert fault == ("soap:Client", "invalid-request", pointer), response.text


def _ack(text: str) -> str:
    return (
        f"<sed:MessageId>{_uuid()}</sed:MessageId><sed:LeaseToken>{_uuid()}</sed:LeaseToken>"
        f"<sed:Accepted>false</sed:Accepted><sed:Reason>{_xml_text(text)}</sed:Reason>"
    )


def _event(choice: str, fields: str) -> str:
    return (
        f"<sed:SendEvent><sed:AppealId>{_uuid()}</sed:AppealId><sed:Event><sed:{choice}>{fields}"
        f"</sed:{choice}></sed:Event></sed:SendEvent>"
    )


def _soap_record(text: str) -> str:
    return (
        f"<sed:UploadStatuses><sed:Record><sed:RegistrationNumber>ТБ-S</sed:RegistrationNumber>"
        f"<sed:RegisteredOn>{date.today() - timedelta(days=2)}</sed:RegisteredOn>"
        f"<sed:Channel>post</sed:Channel><sed:State>registered</sed:State>"
        f"<sed:At>{(_NOW - timedelta(days=1)).isoformat()}</sed:At>"
        f"<sed:Reason>{_xml_text(text)}</sed:Reason></sed:Record></sed:UploadStatuses>"
    )


# (name, payload with the text, its pointer)
SoapField = tuple[str, Callable[[str], str], str]
SOAP_FIELDS: list[SoapField] = [
    ("Ack Reason", lambda s: f"<sed:Ack>{_ack(s)}</sed:Ack>", "/reason"),
    ("AckBatch Reason", lambda s: f"<sed:AckBatch><sed:Ack>{_ack(s)}</sed:Ack></sed:AckBatch>",
     "/acks/0/reason"),
    ("Assigned Executor", lambda s: _event(
        "Assigned", f"<sed:EventId>e-1</sed:EventId><sed:Executor>{_xml_text(s)}</sed:Executor>"),
     "/executor"),
    ("Declined Comment", lambda s: _event(
        "Declined", f"<sed:EventId>e-1</sed:EventId><sed:Ground>anonymous</sed:Ground>"
        f"<sed:Comment>{_xml_text(s)}</sed:Comment>"), "/comment"),
    ("Redirected Reason", lambda s: _event(
        "Redirected", f"<sed:EventId>e-1</sed:EventId><sed:TargetAgency>MINZDRAV-21</sed:TargetAgency>"
        f"<sed:Reason>{_xml_text(s)}</sed:Reason>"), "/reason"),
    ("Closed EventId", lambda s: _event("Closed", f"<sed:EventId>{_xml_text(s)}</sed:EventId>"), "/event_id"),
    ("UploadStatuses Reason", _soap_record, "/records/0/reason"),
    ("ReissueAccessCode RegistrationNumber", lambda s: "<sed:ReissueAccessCode><sed:RegistrationNumber>"
     f"{_xml_text(s)}</sed:RegistrationNumber></sed:ReissueAccessCode>", "/registration_number"),
]  # fmt: skip


@pytest.mark.parametrize("field", SOAP_FIELDS, ids=[f[0] for f in SOAP_FIELDS])
@PROPERTY
@given(text=HOSTILE)
def test_soap_fields_refuse_bad_text_as_client_faults_and_never_fail(client, tokens, field, text):
    _, payload, pointer = field
    assert_soap(_soap_call(client, tokens[CHEBOKSARY], _soap(payload(text))), text, pointer)


@PROPERTY
@given(text=HOSTILE)
def test_the_username_token_is_held_to_the_rule(client, tokens, text):
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    header = (
        f'<wsse:Security xmlns:wsse="{wsse}"><wsse:UsernameToken><wsse:Username>{_xml_text(text)}'
        f"</wsse:Username><wsse:Password>{tokens[CHEBOKSARY]}</wsse:Password></wsse:UsernameToken>"
        "</wsse:Security>"
    )
    response = _soap_call(client, None, _soap("<sed:GetQueueStatistics/>", header))
    assert_soap(response, text, "/Envelope/Header/Security/UsernameToken/Username")


@pytest.mark.parametrize(
    "raw",
    [b"\x00", b"\xed\xa0\x80", b"&#0;", b"&#xD800;", b"&#1;"],
    ids=["NUL", "surrogate", "&#0;", "&#xD800;", "&#1;"],
)
def test_characters_xml_cannot_carry_are_a_client_fault(client, tokens, raw):
    body = _soap("<sed:Ack>" + _ack("r") + "</sed:Ack>").replace(b">r<", b">r" + raw + b"<")
    response = _soap_call(client, tokens[CHEBOKSARY], body)
    assert _fault(response) == ("soap:Client", "malformed-xml", None)


# --- CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argument",
    [b"ref\xff", b"ref\x01", b"x" * (MAX_CHARS + 1)],
    ids=["not UTF-8", "control character", "too long"],
)
def test_a_refused_command_line_argument_is_one_line_and_exit_2(settings, argument):
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"gateway.faces.cli.main", b"ops", b"timeline", argument],
        cwd=PROJECT_ROOT,
        capture_output=True,
        env={"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    assert stderr.startswith("appeals-gateway: argument 3 refused:"), stderr
