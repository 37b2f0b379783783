"""Collective appeals (envelope 1.1): co-applicants with their identity references and the contact are
stored as signed and handed to the agency; an envelope naming two contacts is refused by the schema;
1.0 envelopes (no CoApplicants) are still accepted as before."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.adapters.xmlsec.envelope import build_envelope
from gateway.adapters.xmlsec.signing import sign_envelope
from gateway.domain.errors import Code, Rejection
from gateway.service import intake, mailbox
from gateway.simulators.samples import message_header, sample_appeal, sample_co_applicants

AGENCY = "ADM-CHEBOKSARY"
NS = "urn:appeals-gateway:envelope:1"


def test_a_collective_appeal_reaches_the_agency_with_its_co_applicants(hub, portal):
    co_applicants = sample_co_applicants(3, contact=2)
    receipt = intake.accept(hub, portal.envelope(sample_appeal(1, co_applicants=co_applicants)))
    (message,) = mailbox.lease(hub, AGENCY, 10)
    assert message.appeal_id == receipt.appeal_id
    listed = message.appeal["co_applicants"]
    assert [c["subject_id"] for c in listed] == ["co-subject-1", "co-subject-2", "co-subject-3"]
    assert [c["contact"] for c in listed] == [False, False, True]
    assert listed[2]["person"]["last_name"] == "Кузнецов"
    assert b"CoApplicants" in message.signed_xml  # the agency also has them as the portal signed them


def test_an_appeal_of_one_applicant_lists_none(hub, portal):
    intake.accept(hub, portal.envelope(sample_appeal(1)))
    (message,) = mailbox.lease(hub, AGENCY, 10)
    assert message.appeal["co_applicants"] == []
    assert b"CoApplicants" not in message.signed_xml


def test_two_contacts_are_refused_by_the_schema(hub, portal):
    unsigned = etree.fromstring(
        build_envelope(message_header("EPGU"), sample_appeal(1, co_applicants=sample_co_applicants(2)))
    )
    for item in unsigned.iter(f"{{{NS}}}CoApplicant"):
        item.set("Contact", "true")
    signed = sign_envelope(etree.tostring(unsigned), portal.signer.key_pem, portal.signer.cert_pem)
    with pytest.raises(Rejection) as caught:
        intake.accept(hub, signed)
    assert caught.value.code == Code.SCHEMA_VIOLATION
