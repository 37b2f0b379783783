"""The push contract (schemas/sed-push-1.wsdl/.xsd) as peers nobody here wrote read it.

zeep loads the committed WSDL and the one the fake serves; xmlsec1 verifies the hub's signature on
a request captured on the wire, pinned to the hub's key; lxml holds the captured request and the
fake's answers to the XSD.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault

from connectors.sed.push import WSDL
from gateway.config import PROJECT_ROOT

NS = "urn:appeals-gateway:sed-push:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
DS = "http://www.w3.org/2000/09/xmldsig#"
SCHEMA = PROJECT_ROOT / "schemas" / "sed-push-1.xsd"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


@pytest.fixture
def captured(edms, connect, make_message) -> bytes:
    """A DeliverAppeal request exactly as it arrived at the EDMS."""
    connect(edms.url).deliver(make_message())
    return edms.received[0].request


def _operation(client: zeep.Client):
    return client.wsdl.bindings[f"{{{NS}}}SedPushBinding"].get("DeliverAppeal")


def test_zeep_reads_the_committed_contract():
    client = zeep.Client(str(WSDL))
    operation = _operation(client)
    assert [name for name, _ in operation.input.body.type.elements] == ["Delivery", "HubSignature"]
    assert operation.output.body.qname == etree.QName(NS, "DeliveryAccepted")
    assert operation.soapaction == f"{NS}:DeliverAppeal"


def test_zeep_reads_the_served_contract_and_gets_a_fault_with_a_stable_code(edms):
    """A toolkit pointed at ``?wsdl`` reaches the fake; an unsigned delivery is a soap:Client fault."""
    session = requests.Session()
    client = zeep.Client(edms.url + "?wsdl", transport=zeep.Transport(session=session, timeout=5))
    assert client.service._binding_options["address"] == edms.url
    delivery = {
        "Id": "d-1",
        "MessageId": "00000000-0000-4000-8000-000000000001",
        "AgencyCode": edms.agency_code,
        "AppealId": "00000000-0000-4000-8000-000000000002",
        "PortalMessageId": "00000000-0000-4000-8000-000000000003",
        "ReceivedAt": "2026-01-01T00:00:00Z",
        "SentAt": "2026-01-01T00:00:01Z",
        "Attachments": {"Attachment": []},
        "SignedXml": b"<Envelope/>",
        "SignedXmlSha256": "0" * 64,
    }
    with pytest.raises(Fault) as caught:
        client.service.DeliverAppeal(Delivery=delivery, HubSignature={})
    session.close()
    assert caught.value.code.endswith("Client")
    assert caught.value.detail.findtext(f"{{{NS}}}Error/{{{NS}}}Code") == "signature-missing"
    assert edms.received == []


def test_the_captured_request_and_the_answers_are_valid_against_the_schema(schema, captured, edms):
    payload = etree.fromstring(captured).find(f"{{{SOAP_ENV}}}Body/{{{NS}}}DeliverAppeal")
    assert schema.validate(copy.deepcopy(payload)), schema.error_log
    answer = edms.deliver_appeal(captured)  # a repeat: the same receipt, Duplicate true
    accepted = etree.fromstring(answer).find(f"{{{SOAP_ENV}}}Body/{{{NS}}}DeliveryAccepted")
    assert schema.validate(copy.deepcopy(accepted)), schema.error_log
    assert accepted.findtext(f"{{{NS}}}Duplicate") == "true"


def test_the_signed_delivery_is_the_only_signature_and_covers_the_delivery(captured):
    root = etree.fromstring(captured)
    [signature] = root.iter(f"{{{DS}}}Signature")
    assert signature.getparent().tag == f"{{{NS}}}HubSignature"
    delivery = root.find(f".//{{{NS}}}Delivery")
    assert signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference").get("URI") == "#" + delivery.get("Id")


def _verify(tool: str, request: Path, *trust: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "--verify", *map(str, trust), "--id-attr:Id", f"{NS}:Delivery", str(request)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_xmlsec1_verifies_the_hubs_signature_on_a_captured_delivery(xmlsec1, tmp_path, dev_pki, captured):
    request = tmp_path / "request.xml"
    request.write_bytes(captured)
    pinned = ("--pubkey-cert-pem", dev_pki.hub_cert, "--enabled-key-data", "key-name")
    assert _verify(xmlsec1, request, *pinned).returncode == 0
    assert _verify(xmlsec1, request, "--trusted-pem", dev_pki.root_cert).returncode == 0
    other = ("--pubkey-cert-pem", dev_pki.agency_cert, "--enabled-key-data", "key-name")
    assert _verify(xmlsec1, request, *other).returncode != 0

    tampered = etree.fromstring(captured)
    tampered.find(f".//{{{NS}}}AgencyCode").text = "SOMEONE-ELSE"
    request.write_bytes(etree.tostring(tampered, xml_declaration=True, encoding="UTF-8"))
    assert _verify(xmlsec1, request, *pinned).returncode != 0


def test_the_contract_sends_attachments_to_get_attachment():
    """Attachments are not pushed inline; the pull face's GetAttachment the contract names exists."""
    pull = etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.wsdl"))
    operations = pull.xpath(
        "//wsdl:portType/wsdl:operation/@name", namespaces={"wsdl": "http://schemas.xmlsoap.org/wsdl/"}
    )
    assert "GetAttachment" in operations
    assert "GetAttachment(AppealId, N)" in SCHEMA.read_text(encoding="utf-8")
    assert (
        "xs:base64Binary"
        not in etree.tostring(
            etree.parse(str(SCHEMA)).find(
                ".//{http://www.w3.org/2001/XMLSchema}complexType[@name='AttachmentRef']"
            )
        ).decode()
    )
