"""The cabinet callback contract: its files hold together, the connectors send only what it allows,
and a cabinet's answers are judged as it says (including the cases the fake cannot easily play)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import yaml
import zeep
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from connectors.http_outcome import retry_after_seconds as retry_after
from connectors.portal.cabinet_soap import Contract
from connectors.portal.signing import HubCredentials, RequestSigner
from connectors.portal.update import DETAILS_SINCE_CONTRACT_2, CabinetUpdate, judge_status, problem_code
from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import DeliveryError
from gateway.domain.events import PUBLIC_DETAILS
from tests.integration.connectors.portal.cabinet_messages import message

PATH = "/appeals/{appeal_id}/updates/{seq}"


def _openapi(version: int) -> dict:
    path = PROJECT_ROOT / "schemas" / f"cabinet-callback-{version}.openapi.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=[2, 1], ids=["contract2", "contract1"])
def version(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture(scope="module")
def update_schema(version: int) -> Draft202012Validator:
    registry = Registry().with_resource("urn:c", Resource(_openapi(version), DRAFT202012))
    return Draft202012Validator({"$ref": "urn:c#/components/schemas/CabinetUpdate"}, registry=registry)


def test_the_openapi_examples_are_valid_updates(update_schema, version):
    contract = _openapi(version)
    assert contract["info"]["version"] == str(version)
    assert contract["openapi"].startswith("3.1")
    operation = contract["paths"][PATH]["put"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():
        assert list(update_schema.iter_errors(example["value"])) == []
    assert {"200", "201", "204", "409", "429", "503"} <= set(operation["responses"])


@pytest.mark.parametrize("kind", ["registered", "assigned", "extended", "redirected", "answered", "closed"])
def test_every_body_the_rest_connector_builds_is_valid_against_the_openapi(
    update_schema, version, appeal_id, kind
):
    details = {
        "extended": {"new_due_date": "2027-01-25", "answer_by": "2027-01-25", "reason": "проверка"},
        "redirected": {"target_agency": "MINSTROY-21", "reason": "не по компетенции"},
    }.get(kind)
    extra = {"details": details} if details else {}
    update = CabinetUpdate.from_message(message(appeal_id, 2, kind, **extra)).as_of_contract(version)
    assert list(update_schema.iter_errors(update.to_json())) == []


def test_contract_2_repeats_what_earlier_updates_gave_and_1_does_not(appeal_id):
    """Version 1 carries the access code on the registered update only and no public state: the
    update that loses a race takes them with it. Version 2 carries them on every update."""
    closed = CabinetUpdate.from_message(message(appeal_id, 5, "closed"))
    assert closed.as_of_contract(2).to_json()["access_code"] == closed.access_code
    assert closed.as_of_contract(2).to_json()["appeal"]["state"] == "closed"
    assert {"access_code", "appeal"}.isdisjoint(closed.as_of_contract(1).to_json())


def test_contract_2_refuses_a_payload_without_the_public_state(appeal_id):
    bare = CabinetUpdate.from_message(message(appeal_id, 2, "assigned", appeal=None))
    with pytest.raises(DeliveryError, match="public state") as caught:
        bare.as_of_contract(2)
    assert caught.value.permanent


def test_the_contract_carries_every_public_detail_the_hub_writes(version):
    """The domain decides what the applicant sees; the contract must have a field for each."""
    contract = _openapi(version)
    expected = set(PUBLIC_DETAILS) - (set(DETAILS_SINCE_CONTRACT_2) if version == 1 else set())
    assert set(contract["components"]["schemas"]["Details"]["properties"]) == expected


def test_a_dispatched_update_drops_for_contract_1_the_details_it_lacks(appeal_id, update_schema, version):
    """An answer posted by an operator: contract 2 carries its date and tracking number, in the
    event's details and the public state; contract 1's cabinets get its type and state alone."""
    posted = {"dispatched_on": "2027-01-20", "tracking_number": "42800012345678"}
    payload = message(appeal_id, 6, "dispatched", state="answered", details=posted)
    update = CabinetUpdate.from_message(payload).as_of_contract(version)
    assert update.to_json()["details"] == (posted if version == 2 else {})
    assert list(update_schema.iter_errors(update.to_json())) == []


def test_the_wsdl_offers_push_update_returning_accepted(version):
    contract = Contract(version)
    client = zeep.Client(str(contract.wsdl))
    operation = client.wsdl.bindings[contract.q("CabinetCallbackBinding")].get("PushUpdate")
    assert operation.soapaction == f"{contract.ns}:PushUpdate"
    assert operation.output.body.qname.localname == "Accepted"


# --- outbox payloads the contract cannot carry: refused before anything is sent ---------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"details": {"executor": "Отдел писем"}}, "executor"),
        ({"appeal_id": "d65eb91c-a7fe-48c0-b8b7-d33ff1cafbab"}, "differ"),
        ({"type": "Registered!"}, "lower-case"),
        ({"at": "yesterday"}, "wrong type or format"),
        ({"documents": {"answer": "0" * 64}}, "does not match the digest"),
    ],
)
def test_a_payload_off_the_contract_is_a_permanent_failure_and_nothing_is_sent(
    connector, cabinet, appeal_id, change, reason
):
    kind = "answered" if "documents" in change else "registered"
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message(appeal_id, 1, kind, **change))
    assert caught.value.permanent
    assert reason in caught.value.reason
    assert "Отдел" not in caught.value.reason and "yesterday" not in caught.value.reason
    assert cabinet.stats()["calls"] == 0


def test_an_answered_update_without_its_document_is_a_permanent_failure(connector, cabinet, appeal_id):
    msg = message(appeal_id, 4, "answered")
    msg = type(msg)(**{**{f: getattr(msg, f) for f in msg.__dataclass_fields__}, "documents": {}})
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(msg)
    assert caught.value.permanent
    assert "answer document" in caught.value.reason


def test_an_address_that_is_not_a_url_is_a_permanent_failure(connect, appeal_id, variant):
    connector = connect("ftp://cabinet.invalid" if variant == "rest" else "not a url")
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message(appeal_id, 1))
    assert caught.value.permanent


def test_a_redirect_is_not_followed_and_counts_as_a_wrong_address(connector, cabinet, appeal_id):
    cabinet.fail_next(1, status=307)
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message(appeal_id, 1))
    assert caught.value.permanent


def test_the_cabinet_refuses_a_signed_body_off_the_contract(cabinet, hub, appeal_id):
    """The fake checks bodies against the OpenAPI schema, so a drifting connector would be caught."""
    body = f'{{"appeal_id":"{appeal_id}","seq":1,"type":"registered","state":"registered"}}'.encode()
    request = httpx.Request(
        "PUT",
        f"{cabinet.url}/appeals/{appeal_id}/updates/1",
        content=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": f"cabinet:{appeal_id}:1"},
    )
    RequestSigner(HubCredentials(*hub), contract=cabinet.contract.version).sign(request, body)
    with httpx.Client() as client:
        response = client.send(request)
    assert (response.status_code, response.json()["code"]) == (422, "schema-violation")


# --- judging answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (409, "delivered"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (301, "permanent"),
        (400, "permanent"),
        (401, "permanent"),
        (403, "permanent"),
        (404, "permanent"),
        (413, "permanent"),
        (422, "permanent"),
    ],
)
def test_each_status_is_judged_as_the_contract_says(status, outcome):
    error = judge_status(status, {}, None)
    judged = "delivered" if error is None else "permanent" if error.permanent else "retry"
    assert judged == outcome


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert retry_after("120") == 120
    assert (
        retry_after(format_datetime(datetime(2026, 11, 25, 10, 5, tzinfo=UTC), usegmt=True), now=now) == 300
    )
    assert retry_after(format_datetime(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), usegmt=True), now=now) == 0
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_only_a_well_formed_code_is_taken_from_a_problem_document():
    assert problem_code(b'{"code": "unknown-appeal", "detail": "Ivanov"}', "application/problem+json") == (
        "unknown-appeal"
    )
    assert problem_code(b'{"type": "urn:cabinet:problem:gone"}', "application/json") == "gone"
    assert problem_code('{"code": "Иванов Иван"}'.encode(), "application/problem+json") is None
    assert problem_code(b"<html>Ivanov</html>", "text/html") is None
