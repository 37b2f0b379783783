"""A GOST-signed envelope through the real hub: openssl signs as the portal, the hub stores, the agency pulls.

The hub process trusts the dev root and the tests' GOST root in one bundle (``trust_anchor_bundle``);
the envelope's signatures are made by the ``openssl`` command with the gost engine, never by the hub.
"""

from __future__ import annotations

import base64

import httpx
import pytest
from lxml import etree

from gateway.adapters.pki import DEV_OGRN
from gateway.adapters.xmlsec.envelope import build_envelope, q
from gateway.domain.model import ApplicantType
from gateway.simulators.edms import Edms
from gateway.simulators.portal import push
from gateway.simulators.samples import message_header, sample_appeal
from tests import gost_pki as ossl


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def test_an_envelope_openssl_signed_with_gost_is_stored_and_pulled_intact(client, hub, registry, gost_pki):
    portal = gost_pki.issue("e2e-portal", "EPGU Portal (dev)")
    applicant = gost_pki.issue(
        "e2e-applicant", "Representative (dev)", ogrn=DEV_OGRN, organisation="ООО Пример"
    )
    root = etree.fromstring(
        build_envelope(message_header("EPGU"), sample_appeal(7, applicant_type=ApplicantType.LEGAL_ENTITY))
    )
    root.find(q("Message")).append(etree.Element(q("ApplicantSignature")))
    envelope = ossl.sign_detached(etree.tostring(root), "ApplicantSignature", "Appeal", applicant)
    envelope = ossl.sign_detached(envelope, "PortalSignature", "Message", portal)

    response = push(client, envelope)

    assert response.status_code == 201, response.text
    assert response.json()["routed_to"] == "ADM-CHEBOKSARY"
    messages = Edms(client, registry[1]["ADM-CHEBOKSARY"]).pull()
    assert [base64.b64decode(m["signed_xml_base64"]) for m in messages] == [envelope]


def test_a_tampered_gost_envelope_is_refused_over_the_wire(client, hub, gost_pki):
    portal = gost_pki.issue("e2e-portal-tampered", "EPGU Portal (dev)")
    envelope = ossl.sign_detached(
        build_envelope(message_header("EPGU"), sample_appeal(8)), "PortalSignature", "Message", portal
    )
    subject = sample_appeal(8).subject.encode()
    response = push(client, envelope.replace(subject, b"FORGED"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "signature-invalid"
