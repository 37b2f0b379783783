"""Status upload over real sockets: one table of scenarios on REST and on SOAP (zeep reading the
served WSDL), then the public lookup finds what was uploaded with the code the upload returned.

Lookups here come from addresses of their own (``X-Forwarded-For``, which uvicorn honours from a
proxy on 127.0.0.1), so the per-address rate limit that other files spend does not reach them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import zeep
from lxml import etree

from gateway.config import PROJECT_ROOT
from gateway.simulators.edms import Edms, Refused
from gateway.simulators.edms_soap import SoapEdms
from tests.e2e.pushing import push_samples

CHEBOKSARY = "ADM-CHEBOKSARY"
REGISTERED_ON = date.today() - timedelta(days=5)
AT = datetime.combine(REGISTERED_ON, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:appeals-gateway:sed:1"
SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd")))
_addresses = (f"192.0.2.{n}" for n in itertools.count(1))

EdmsLike = Edms | SoapEdms


@pytest.fixture
def client(hub_url, hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


@pytest.fixture
def token(registry) -> str:
    return registry[1][CHEBOKSARY]


@pytest.fixture(params=["rest", "soap"])
def edms(request, client, hub_url, token) -> Iterator[EdmsLike]:
    if request.param == "rest":
        yield Edms(client, token)
        return
    soap = SoapEdms(hub_url, CHEBOKSARY, token)
    yield soap
    soap.close()


def _record(number: str, state: str = "registered", at: datetime = AT, **fields: str) -> dict[str, str]:
    return {
        "registration_number": number,
        "registered_on": REGISTERED_ON.isoformat(),
        "channel": "in-person",
        "state": state,
        "at": at.isoformat(),
        **fields,
    }


def _lookup(client: httpx.Client, number: str, code: str) -> httpx.Response:
    return client.get(
        "/public/v1/status",
        params={"number": number, "code": code},
        headers={"X-Forwarded-For": next(_addresses)},
    )


def _refusal(attempt: Callable[[], object]) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        attempt()
    return refused.value.code, refused.value.pointer


def _count(hub, table: str) -> int:
    with hub.pool.connection() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


# --- one table, both faces ----------------------------------------------------------------------


def test_an_uploaded_appeal_is_found_with_the_code_the_upload_returned(edms, client):
    results = edms.upload_statuses(
        [_record("Л-11"), _record("Л-11", "answered", AT + timedelta(days=2), reason="разъяснено")]
    )
    assert [r["outcome"] for r in results] == ["created", "updated"]
    assert "access_code" not in results[1]
    code = results[0]["access_code"]
    found = _lookup(client, "Л-11", code)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["channel"], body["state"], body["agency"]["code"]) == ("in-person", "answered", CHEBOKSARY)
    assert [(h["type"], h["state"], h["details"]) for h in body["history"]] == [
        ("status", "registered", {}),
        ("status", "answered", {"reason": "разъяснено"}),
    ]
    wrong_code, wrong_number = _lookup(client, "Л-11", "2345678ABC"), _lookup(client, "Л-99", code)
    assert wrong_code.status_code == wrong_number.status_code == 404
    assert wrong_code.json() == wrong_number.json()


def test_sending_a_batch_again_is_repeated_and_gives_no_code(edms):
    batch = [_record("Л-21"), _record("Л-21", "in-progress", AT + timedelta(days=1))]
    edms.upload_statuses(batch)
    again = edms.upload_statuses(batch)
    assert again == [
        {"registration_number": "Л-21", "outcome": "repeated"},
        {"registration_number": "Л-21", "outcome": "repeated"},
    ]


def test_a_reissued_access_code_replaces_the_lost_one(edms, client, hub, portal, token):
    (created,) = edms.upload_statuses([_record("Л-25")])
    reissued = edms.reissue_access_code(" Л-25 ")
    assert reissued["registration_number"] == "Л-25"
    assert reissued["access_code"] != created["access_code"]
    assert _lookup(client, "Л-25", reissued["access_code"]).status_code == 200
    assert _lookup(client, "Л-25", created["access_code"]).status_code == 404  # the old one is void
    with hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT details FROM audit_record WHERE action = 'access-code-reissued'"
        ).fetchall()
    assert [a["details"]["agency"] for a in audit] == [CHEBOKSARY]
    # Not an uploaded appeal of this agency: a portal appeal's number, or no appeal at all.
    (appeal_id,) = push_samples(client, portal, 1)
    Edms(client, token).register(appeal_id, "Л-26", date.today(), "reg-26")
    for number in ("Л-26", "Л-404"):
        assert _refusal(lambda n=number: edms.reissue_access_code(n)) == ("not-found", "/registration_number")
    assert _refusal(lambda: edms.reissue_access_code("")) == ("invalid-request", "/registration_number")


def test_a_refused_record_names_itself_and_nothing_is_stored(edms, hub):
    edms.upload_statuses([_record("Л-31", "closed")])
    batch = [_record("Л-32"), _record("Л-31", "in-progress", AT + timedelta(days=1))]
    assert _refusal(lambda: edms.upload_statuses(batch)) == ("illegal-transition", "/records/1/state")
    assert _count(hub, "offline_appeal") == 1
    with hub.pool.connection() as conn:
        refusals = conn.execute("SELECT code, pointer, status FROM request_refusal").fetchall()
    assert [(r["code"], r["pointer"], r["status"]) for r in refusals] == [
        ("illegal-transition", "/records/1/state", 409)
    ]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"channel": "portal"}, "/records/0/channel"),
        ({"state": "acknowledged"}, "/records/0/state"),
        ({"at": "2026-11-20T10:30:00"}, "/records/0/at"),  # no offset
        ({"state": "extended"}, "/records/0/answer_by"),
        ({"registered_on": "2999-01-01", "at": "2999-01-01T10:00:00+03:00"}, "/records/0/registered_on"),
    ],
)
def test_bad_fields_are_refused_with_the_same_code_and_pointer(edms, change, pointer):
    assert _refusal(lambda: edms.upload_statuses([{**_record("Л-41"), **change}])) == (
        "invalid-request",
        pointer,
    )


def test_a_number_the_agency_gave_a_portal_appeal_is_taken(edms, client, portal, token):
    (appeal_id,) = push_samples(client, portal)
    Edms(client, token).register(appeal_id, "Л-51", REGISTERED_ON, "reg-л-51")
    refused = _refusal(lambda: edms.upload_statuses([_record("Л-51")]))
    assert refused == ("registration-number-taken", "/records/0/registration_number")


# --- what only REST has -------------------------------------------------------------------------


def test_rest_answers_problems_with_statuses(client, token):
    auth = {"Authorization": f"Bearer {token}"}
    anonymous = client.post("/sed/v1/statuses", json={"records": [_record("Л-61")]})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    taken = client.post("/sed/v1/statuses", json={"records": [_record("Л-62", "declined")]}, headers=auth)
    assert taken.status_code == 200
    illegal = client.post(
        "/sed/v1/statuses",
        json={"records": [_record("Л-62", "answered", AT + timedelta(days=1))]},
        headers=auth,
    )
    assert illegal.status_code == 409
    assert illegal.headers["content-type"].startswith("application/problem+json")
    assert (illegal.json()["code"], illegal.json()["pointer"]) == ("illegal-transition", "/records/0/state")
    for body, pointer in (
        ({"records": "Л-63"}, "/records"),
        ({}, "/records"),
        ({"records": [_record("Л-63"), {"registration_number": 63}]}, "/records/1/registration_number"),
    ):
        refused = client.post("/sed/v1/statuses", json=body, headers=auth)
        assert refused.status_code == 400, body
        assert (refused.json()["code"], refused.json()["pointer"]) == ("invalid-request", pointer)


# --- what only SOAP has -------------------------------------------------------------------------


def test_the_wsdl_offers_the_operation(hub_url, hub):
    client = zeep.Client(hub_url + "/sed/soap/v1?wsdl")
    (service,) = client.wsdl.services.values()
    (port,) = service.ports.values()
    assert "UploadStatuses" in port.binding._operations


def test_the_soap_answer_is_valid_against_the_published_schema(client, token):
    payload = (
        "<sed:UploadStatuses><sed:Record><sed:RegistrationNumber>Л-71</sed:RegistrationNumber>"
        f"<sed:RegisteredOn>{REGISTERED_ON.isoformat()}Z</sed:RegisteredOn><sed:Channel>post</sed:Channel>"
        f"<sed:State>registered</sed:State><sed:At>{AT.isoformat()}</sed:At></sed:Record></sed:UploadStatuses>"
    )
    response = _soap(client, token, payload)
    assert response.status_code == 200, response.text
    (answer,) = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")
    SCHEMA.assertValid(answer)
    (result,) = answer
    assert result.findtext(f"{{{NS}}}Outcome") == "created"
    assert len(result.findtext(f"{{{NS}}}AccessCode")) == 10


def test_a_record_against_the_schema_is_a_schema_violation(client, token):
    payload = (
        "<sed:UploadStatuses><sed:Record><sed:RegistrationNumber>Л-72</sed:RegistrationNumber>"
        "<sed:RegisteredOn>yesterday</sed:RegisteredOn><sed:Channel>post</sed:Channel>"
        f"<sed:State>registered</sed:State><sed:At>{AT.isoformat()}</sed:At></sed:Record></sed:UploadStatuses>"
    )
    response = _soap(client, token, payload)
    assert response.status_code == 500
    error = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault/detail/{{{NS}}}Error")
    assert error.findtext(f"{{{NS}}}Code") == "schema-violation"


def _soap(client: httpx.Client, token: str, payload: str) -> httpx.Response:
    envelope = f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:sed="{NS}"><soap:Body>{payload}</soap:Body>'
    envelope += "</soap:Envelope>"
    headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Bearer {token}"}
    return client.post("/sed/soap/v1", content=envelope.encode(), headers=headers)
