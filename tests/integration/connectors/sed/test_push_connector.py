"""SoapPushConnector against the fake agency EDMS over real sockets: delivered, absorbed, classified.

Every failure is checked for what the retry policy needs: retryable or permanent, and the wait the
receiver asked for. Reasons are checked to name codes, never the appeal's content.
"""

from __future__ import annotations

import socket
import time

import pytest

from gateway.domain.delivery import DeliveryError
from gateway.simulators.edms_push import FakePushEdms
from gateway.simulators.samples import sample_appeal

PERSONAL = (sample_appeal().applicant.person.last_name, sample_appeal().subject)


def _failure(connector, message) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message)
    assert not any(text in caught.value.reason for text in PERSONAL)
    return caught.value


def test_an_appeal_arrives_signed_with_the_portals_envelope_byte_for_byte(
    edms, connect, make_message, envelope
):
    message = make_message()
    receipt = connect(edms.url).send(message)

    [taken] = edms.received
    payload = message.payload
    assert receipt.message_id == taken.message_id == payload["message_id"]
    assert receipt.receipt_id == taken.receipt_id
    assert receipt.duplicate is False
    assert taken.delivery.agency_code == edms.agency_code == payload["agency_code"]
    assert taken.delivery.appeal_id == payload["appeal_id"]
    assert taken.delivery.portal_message_id == payload["portal_message_id"]
    assert (taken.delivery.sender_id, taken.delivery.portal_appeal_id) == (
        "EPGU",
        payload["portal_appeal_id"],
    )
    assert taken.delivery.routing == {"TopicCode": "0005.0005.0056.1149", "TerritoryCode": "97701000"}
    [sent] = payload["attachments"]
    assert [(a["n"], a["content_id"], a["sha256"]) for a in taken.delivery.attachments] == [
        (1, sent["content_id"], sent["sha256"])
    ]
    assert edms.envelope_intact(taken.message_id, envelope)
    assert taken.portal_signature_valid is True  # the portal's and the applicant's signatures still hold
    assert edms.refusals == []


def test_a_registration_hint_reaches_the_receipt(dev_pki, connect, make_message):
    with FakePushEdms(dev_pki.hub_cert.read_bytes(), registration_hint=True) as edms:
        receipt = connect(edms.url).send(make_message())
    assert receipt.registration_number == "PUSH-00001"
    assert receipt.registered_on is not None


def test_a_repeated_message_id_is_absorbed_with_the_same_receipt(edms, connect, make_message):
    connector = connect(edms.url)
    first = make_message()
    again = make_message(
        message_id=first.payload["message_id"], attempt=2, appeal_id=first.payload["appeal_id"]
    )

    receipts = [connector.send(first), connector.send(again)]

    assert receipts[0].receipt_id == receipts[1].receipt_id
    assert [r.duplicate for r in receipts] == [False, True]
    assert len(edms.received) == 1
    assert edms.duplicates == 1


def test_a_message_id_reused_for_another_appeal_is_refused_for_good(edms, connect, make_message):
    connector = connect(edms.url)
    first = make_message()
    connector.deliver(first)
    error = _failure(connector, make_message(message_id=first.payload["message_id"]))
    assert error.permanent
    assert "message-id-reused" in error.reason


def test_503_with_retry_after_is_retried_no_earlier_than_asked(edms, connect, make_message):
    edms.fail_next(1, "http-503", retry_after=7)
    connector = connect(edms.url)
    message = make_message()

    error = _failure(connector, message)
    assert not error.permanent
    assert error.retry_after == 7
    assert "503" in error.reason

    connector.deliver(message)  # the next attempt goes through
    assert len(edms.received) == 1


def test_a_server_fault_is_retried_with_the_wait_from_its_detail(edms, connect, make_message):
    edms.fail_next(1, "server-fault", retry_after=3)
    error = _failure(connect(edms.url), make_message())
    assert not error.permanent
    assert error.retry_after == 3
    assert "soap:Server" in error.reason and "unavailable" in error.reason


def test_a_server_fault_without_a_wait_leaves_it_to_the_policy(edms, connect, make_message):
    edms.fail_next(1, "server-fault")
    error = _failure(connect(edms.url), make_message())
    assert not error.permanent
    assert error.retry_after is None


def test_a_client_fault_is_permanent(edms, connect, make_message):
    edms.fail_next(1, "client-fault")
    error = _failure(connect(edms.url), make_message())
    assert error.permanent
    assert "soap:Client" in error.reason and "invalid-request" in error.reason


@pytest.mark.parametrize(
    ("key_attr", "cert_attr", "code"),
    [
        ("agency_key", "agency_cert", "certificate-untrusted"),  # another certificate of the same CA
        ("agency_key", "hub_cert", "signature-invalid"),  # the hub's certificate, someone else's key
    ],
    ids=["other-certificate", "other-key"],
)
def test_a_signature_by_anyone_but_the_hub_is_refused_for_good(
    dev_pki, edms, connect, make_message, key_attr, cert_attr, code
):
    connector = connect(
        edms.url,
        key_pem=getattr(dev_pki, key_attr).read_bytes(),
        cert_pem=getattr(dev_pki, cert_attr).read_bytes(),
    )
    error = _failure(connector, make_message())
    assert error.permanent
    assert code in error.reason
    assert edms.received == []
    assert edms.refusals == [code]


def test_a_delivery_for_another_agency_is_refused_for_good(edms, connect, make_message):
    error = _failure(connect(edms.url), make_message(agency_code="MINZDRAV-21"))
    assert error.permanent
    assert "not-addressee" in error.reason


def test_wrong_or_missing_credentials_are_refused_for_good_and_right_ones_pass(
    dev_pki, connect, make_message
):
    with FakePushEdms(dev_pki.hub_cert.read_bytes(), username="hub", password="s3cret") as edms:
        for kwargs in ({}, {"username": "hub", "password": "wrong"}):
            error = _failure(connect(edms.url, **kwargs), make_message())
            assert error.permanent
            assert "unauthenticated" in error.reason
        connect(edms.url, username="hub", password="s3cret").deliver(make_message())
        assert [t.username for t in edms.received] == ["hub"]


def test_an_http_4xx_is_permanent(edms, connect, make_message):
    error = _failure(connect(edms.base_url + "/no-such-endpoint"), make_message())
    assert error.permanent
    assert "404" in error.reason


def test_a_refused_connection_is_retryable(connect, make_message):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = _failure(connect(f"http://127.0.0.1:{port}/sed-push/v1"), make_message())
    assert not error.permanent
    assert "could not reach" in error.reason


def test_a_slow_edms_times_out_and_is_retryable(dev_pki, connect, make_message):
    with FakePushEdms(dev_pki.hub_cert.read_bytes(), delay=3.0) as edms:
        started = time.monotonic()
        error = _failure(connect(edms.url, timeout=0.5), make_message())
        assert time.monotonic() - started < 2.5
    assert not error.permanent
    assert "in time" in error.reason


def test_a_message_the_contract_does_not_allow_is_never_sent(edms, connect, make_message):
    bad = make_message(attachments=[{**make_message().payload["attachments"][0], "sha256": "not-hex"}])
    error = _failure(connect(edms.url), bad)
    assert error.permanent
    assert "Sha256" in error.reason
    assert edms.calls == 0


def test_a_message_without_its_envelope_is_permanent(edms, connect, make_message):
    message = make_message()
    error = _failure(connect(edms.url), type(message)(**{**_fields(message), "documents": {}}))
    assert error.permanent
    assert edms.calls == 0


def test_an_envelope_other_than_the_one_the_payload_names_is_permanent(edms, connect, make_message):
    error = _failure(connect(edms.url), make_message(documents={"envelope": "0" * 64}))
    assert error.permanent
    assert "SHA-256" in error.reason
    assert edms.calls == 0


def test_a_password_is_not_sent_in_clear_text_off_this_machine(connect):
    with pytest.raises(ValueError, match="https"):
        connect("http://edms.agency.example/push", username="hub", password="s3cret")


def _fields(message) -> dict:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}
