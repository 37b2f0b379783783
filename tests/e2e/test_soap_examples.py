"""The sample SOAP requests in ``schemas/examples/soap`` (what a SoapUI user pastes) work against a live
hub, and the sample responses beside them are what the hub answers.

Each request is sent as it is in the file, with only what cannot be known in advance swapped in:
the agency's token (``AGENCY-TOKEN``) and the ids of the appeal and message this run pushed and
leased. Each answer must be valid against the published schema and have the very shape (the same
elements, in the same order) of the sample response. ``GATEWAY_WRITE_SOAP_EXAMPLES=1`` rewrites the
sample responses from the live answers, for a change of the contract.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.config import PROJECT_ROOT
from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.conftest import ANSWERING_AGENCY

EXAMPLES = PROJECT_ROOT / "schemas" / "examples" / "soap"
SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd")))
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:appeals-gateway:sed:1"
ENDPOINT = "/sed/soap/v1"
WRITE = os.environ.get("GATEWAY_WRITE_SOAP_EXAMPLES") == "1"
# The ids written in the sample requests, replaced by this run's.
SAMPLE_APPEAL = "5d0c1f0e-8a47-4c1b-9f5e-2b7d3c9a6e01"
SAMPLE_MESSAGE, SAMPLE_LEASE = "0b6f3a52-1c9d-4e8f-a2d4-7e5b9c1f3a10", "9e2d7c41-5a3b-4f6e-8d1c-0a9b8c7d6e21"
SAMPLE_MESSAGE_2, SAMPLE_LEASE_2 = (
    "7c4e2a90-3b1d-4f5a-9e6c-1d2b3a4c5e32",
    "2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c43",
)
OPERATIONS = (
    "GetQueueStatistics", "GetMessages", "GetAttachment", "Ack", "SendEvent", "AckBatch",
    "UploadStatuses", "ReissueAccessCode",
)  # fmt: skip


@pytest.fixture
def client(hub_url, hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=60) as c:
        yield c


def _shape(payload: etree._Element) -> list[str]:
    return [etree.QName(e).localname for e in payload.iter() if isinstance(e.tag, str)]


def _call(
    client: httpx.Client, operation: str, swaps: dict[str, str], compare: bool = True
) -> etree._Element:
    request = (EXAMPLES / f"{operation}.request.xml").read_text(encoding="utf-8")
    (payload,) = etree.fromstring(request.encode()).find(f"{{{SOAP}}}Body")
    SCHEMA.assertValid(payload)  # the sample itself is valid
    for sample, live in swaps.items():
        request = request.replace(sample, live)
    response = client.post(
        ENDPOINT, content=request.encode(), headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    (answer,) = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")
    SCHEMA.assertValid(answer)
    if not compare:
        return answer
    sample_path = EXAMPLES / f"{operation}.response.xml"
    if WRITE:
        envelope = etree.fromstring(response.content)
        etree.indent(envelope)
        _write(sample_path, swaps, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8").decode())
    (expected,) = etree.parse(str(sample_path)).getroot().find(f"{{{SOAP}}}Body")
    SCHEMA.assertValid(expected)
    assert _shape(answer) == _shape(expected), operation
    return answer


def _write(path: Path, swaps: dict[str, str], text: str) -> None:
    for sample, live in swaps.items():  # the sample response names the sample request's ids
        text = text.replace(live, sample)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def _leased(answer: etree._Element) -> tuple[str, str, str]:
    message = answer.find(f"{{{NS}}}Message")
    return tuple(message.findtext(f"{{{NS}}}{name}") for name in ("MessageId", "LeaseToken", "AppealId"))


def test_every_sample_request_gets_the_sample_response(client, portal, registry):
    assert sorted(p.name.split(".")[0] for p in EXAMPLES.glob("*.request.xml")) == sorted(OPERATIONS)
    if not WRITE:
        assert sorted(p.name.split(".")[0] for p in EXAMPLES.glob("*.response.xml")) == sorted(OPERATIONS)
    scan = b"%PDF-1.7 scan"
    appeal = sample_appeal(1, attachments=(attachment_header("scan-1", "скан.pdf", "application/pdf", scan),))
    pushed = push(client, portal.envelope(appeal), {"scan-1": ("скан.pdf", scan, "application/pdf")})
    assert pushed.status_code == 201, pushed.text
    swaps = {"AGENCY-TOKEN": registry[1][ANSWERING_AGENCY]}

    _call(client, "GetQueueStatistics", swaps)
    message, lease, appeal_id = _leased(_call(client, "GetMessages", swaps))
    swaps |= {SAMPLE_APPEAL: appeal_id, SAMPLE_MESSAGE: message, SAMPLE_LEASE: lease}
    if WRITE:  # now that the ids are known, the sample names the sample request's
        _write(
            EXAMPLES / "GetMessages.response.xml", swaps, (EXAMPLES / "GetMessages.response.xml").read_text()
        )
    _call(client, "GetAttachment", swaps)
    _call(client, "Ack", swaps)
    _call(client, "SendEvent", swaps)
    assert push(client, portal.envelope(sample_appeal(2))).status_code == 201
    message_2, lease_2, _ = _leased(_call(client, "GetMessages", swaps, compare=False))  # the second appeal
    _call(client, "AckBatch", swaps | {SAMPLE_MESSAGE_2: message_2, SAMPLE_LEASE_2: lease_2})
    _call(client, "UploadStatuses", swaps)
    _call(client, "ReissueAccessCode", swaps)


def test_the_soapui_project_names_every_operation_and_its_sample():
    project = etree.parse(str(EXAMPLES / "sed-service-1-soapui-project.xml")).getroot()
    con = "{http://eviware.com/soapui/config}"
    operations = {op.get("name"): op for op in project.iter(f"{con}operation")}
    assert set(operations) == set(OPERATIONS)
    for name, operation in operations.items():
        (request,) = operation.iter(f"{con}request")
        sample = (EXAMPLES / f"{name}.request.xml").read_text(encoding="utf-8")
        assert request.text.strip() == sample.strip(), name
