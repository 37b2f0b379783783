"""The SMS connector through the real smpplib client over a real socket to a fake SMSC that decodes
every PDU from the SMPP 3.4 specification (gateway/simulators/smsc.py), byte by byte."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from connectors.mail.sms.connector import SmppConnector
from connectors.mail.sms.receipts import Receipt, ReceiptListener
from connectors.mail.sms.smpp import SmscAccount
from connectors.mail.sms.text import compose
from gateway.domain.delivery import DeliveryError
from gateway.simulators.smsc import FakeSmsc
from tests.integration.connectors.mail.sms_messages import ACCESS_CODE, LOOKUP_URL, NUMBER, message

SENDER = "Obrashch21"


def account(smsc: FakeSmsc, **overrides: object) -> SmscAccount:
    fields: dict = {"host": smsc.host, "port": smsc.port, "system_id": "hub", "password": "secret",
                    "source_addr": SENDER, "timeout": 5.0}  # fmt: skip
    fields.update(overrides)
    return SmscAccount(**fields)


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(system_id="hub", password="secret") as fake:
        yield fake


def test_a_registration_reaches_the_smsc_in_ucs2_parts_with_number_code_and_link(smsc: FakeSmsc) -> None:
    sms = message("registered", outbox_id=300 + 7)
    SmppConnector(account(smsc)).deliver(sms)

    assert smsc.binds == [("transmitter", "hub", 0)]
    assert smsc.errors == []
    parts = smsc.submitted
    assert 2 <= len(parts) <= 3
    for n, part in enumerate(parts, start=1):
        length, command_id, status, _ = struct.unpack(">IIII", part.raw[:16])
        assert (length, command_id, status) == (len(part.raw), 0x00000004, 0)
        assert (part.service_type, part.source_addr_ton, part.source_addr_npi, part.source_addr) == (
            "",
            5,
            0,
            SENDER,
        )
        assert (part.dest_addr_ton, part.dest_addr_npi, part.destination_addr) == (1, 1, "79001234567")
        assert part.registered_delivery == 0x01  # a receipt for success and failure
        assert part.data_coding == 0x08  # UCS-2
        assert part.esm_class == 0x40  # UDHI: the text starts with a concatenation header
        assert part.validity_period == "000002000000000R"  # two days, relative
        assert part.udh == bytes((0x05, 0x00, 0x03, 307 % 256, len(parts), n))
        assert len(part.user_data) % 2 == 0 and len(part.user_data) <= 134
        assert part.tlvs == {}  # UDH, not SAR
    assert all(len(p.user_data) == 134 for p in parts[:-1])  # 67 characters in each full part
    text = "".join(p.text for p in parts)
    assert text == compose(sms.payload)
    assert text.startswith("Обращение зарегистрировано, № " + NUMBER)
    assert "31.12.2026" in text and ACCESS_CODE in text and text.endswith(LOOKUP_URL)


def test_a_short_text_goes_as_one_part_without_a_header(smsc: FakeSmsc) -> None:
    SmppConnector(account(smsc)).deliver(message("answered", lookup_url="https://hub.example.ru/s"))

    (part,) = smsc.submitted
    assert part.esm_class == 0 and part.udh == b"" and part.data_coding == 0x08
    assert part.text == "На обращение № 01-23/4567 дан ответ. Статус: https://hub.example.ru/s"


def test_a_belarusian_agency_s_applicant_reads_belarusian(smsc: FakeSmsc) -> None:
    SmppConnector(account(smsc)).deliver(message("extended", language="be"))

    text = "".join(p.text for p in smsc.submitted)
    assert text.startswith("Тэрмін адказу на зварот № 01-23/4567 падоўжаны да 30.01.2027.")


def test_a_long_agency_name_is_shortened_to_keep_three_parts(smsc: FakeSmsc) -> None:
    long_name = (
        "Министерство строительства, архитектуры и жилищно-коммунального хозяйства Чувашской Республики"
        " (территориальный отдел по городу Новочебоксарску)"
    )
    sms = message("redirected")
    sms.payload["appeal"]["agency"]["name"] = long_name
    SmppConnector(account(smsc)).deliver(sms)

    text = "".join(p.text for p in smsc.submitted)
    assert len(smsc.submitted) == 3 and len(text) <= 201
    assert "перенаправлено: Министерство строительства" in text and "…" in text and text.endswith(LOOKUP_URL)


def test_throttling_is_retried_after_a_wait() -> None:
    with FakeSmsc(throttle_first=1) as smsc:
        connector = SmppConnector(account(smsc))
        with pytest.raises(DeliveryError) as refused:
            connector.deliver(message("closed"))
        assert not refused.value.permanent and refused.value.retry_after == 10.0
        assert refused.value.reason == "the SMSC refused part 1 of 2: ESME_RTHROTTLED"
        assert smsc.submitted == []

        connector.deliver(message("closed"))  # the next attempt
        assert len(smsc.submitted) == 2


def test_a_refused_bind_is_permanent_and_names_the_status(smsc: FakeSmsc) -> None:
    with pytest.raises(DeliveryError) as refused:
        SmppConnector(account(smsc, password="wrong")).deliver(message())

    assert refused.value.permanent
    assert refused.value.reason == "the SMSC refused the bind: ESME_RINVPASWD"
    assert smsc.binds == [("transmitter", "hub", 0x0E)] and smsc.submitted == []


def test_an_invalid_destination_is_permanent_without_the_number_in_the_reason() -> None:
    with FakeSmsc(refuse_destinations=("79001234567",)) as smsc, pytest.raises(DeliveryError) as refused:
        SmppConnector(account(smsc)).deliver(message())

    assert refused.value.permanent
    assert refused.value.reason == "the SMSC refused part 1 of 3: ESME_RINVDSTADR"
    assert "9001234567" not in refused.value.reason


def test_a_number_not_in_e164_is_permanent_before_any_connection(smsc: FakeSmsc) -> None:
    with pytest.raises(DeliveryError) as refused:
        SmppConnector(account(smsc)).deliver(message(to="89001234567"))

    assert refused.value.permanent and "89001234567" not in refused.value.reason
    assert smsc.binds == []


def test_no_smsc_listening_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    fake = SmscAccount("127.0.0.1", port, "hub", "secret", SENDER, timeout=2.0)
    with pytest.raises(DeliveryError) as refused:
        SmppConnector(fake).deliver(message())

    assert not refused.value.permanent
    assert refused.value.reason == "could not reach the SMSC (ConnectionError)"


def test_an_smsc_that_never_answers_is_retried_after_the_timeout() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
        silent = SmscAccount("127.0.0.1", server.getsockname()[1], "hub", "secret", SENDER, timeout=0.5)
        with pytest.raises(DeliveryError) as refused:
            SmppConnector(silent).deliver(message())
        for conn in accepted:
            conn.close()

    assert not refused.value.permanent
    assert (
        refused.value.reason == "could not reach the SMSC (ConnectionError)"
    )  # smpplib's word for a silent bind


def test_an_smsc_that_takes_a_submit_without_answering_is_retried_after_the_timeout() -> None:
    with FakeSmsc(answer_submits=False) as smsc, pytest.raises(DeliveryError) as refused:
        SmppConnector(account(smsc, timeout=0.5)).deliver(message())

    assert not refused.value.permanent
    assert refused.value.reason == "the SMSC did not answer within 0.5 s"


# --- delivery receipts, on the listener's own bind ---------------------------------------------


@contextlib.contextmanager
def listening(listener: ReceiptListener) -> Iterator[ReceiptListener]:
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_receipts_reach_the_listener_bound_as_receiver(smsc: FakeSmsc) -> None:
    receipts: list[Receipt] = []
    with listening(ReceiptListener(account(smsc), receipts.append)) as listener:
        assert listener.bound.wait(5)
        SmppConnector(account(smsc)).deliver(message())
        _until(lambda: len(smsc.receipts_acknowledged) == len(smsc.submitted))

    ids = [p.message_id for p in smsc.submitted]
    assert [r.message_id for r in receipts] == ids == smsc.receipts_acknowledged
    assert {r.state for r in receipts} == {"DELIVRD"} and all(r.done_at for r in receipts)
    assert ("receiver", "hub", 0) in smsc.binds


def test_receipts_kept_while_no_listener_was_bound_arrive_when_it_binds(smsc: FakeSmsc) -> None:
    SmppConnector(account(smsc)).deliver(message("answered", lookup_url="https://hub.example.ru/s"))
    smsc.send_receipt(smsc.submitted[0], "UNDELIV")  # a later, final word: the handset is off for good
    receipts: list[Receipt] = []
    with listening(ReceiptListener(account(smsc), receipts.append, bind="transceiver")):
        _until(lambda: len(receipts) == 2)

    assert [r.state for r in receipts] == ["DELIVRD", "UNDELIV"]
    assert receipts[1].error_code == "001"


def test_a_receipt_that_cannot_be_recorded_is_not_acknowledged(smsc: FakeSmsc) -> None:
    attempts: list[Receipt] = []

    def broken(receipt: Receipt) -> None:
        attempts.append(receipt)
        raise RuntimeError("the database is away")

    with listening(ReceiptListener(account(smsc), broken)) as listener:
        assert listener.bound.wait(5)
        SmppConnector(account(smsc)).deliver(message("closed"))
        _until(lambda: len(attempts) == 2)
        time.sleep(0.2)

    assert smsc.receipts_acknowledged == [] and listener.receipts == 0


def test_the_listener_binds_again_after_the_smsc_drops_the_line(smsc: FakeSmsc) -> None:
    receipts: list[Receipt] = []
    with listening(ReceiptListener(account(smsc), receipts.append)) as listener:
        assert listener.bound.wait(5)
        smsc.drop_connections()
        _until(lambda: not listener.bound.is_set())  # noticed at once, not at the next enquire_link
        SmppConnector(account(smsc)).deliver(message("closed"))  # its receipts wait at the SMSC
        _until(lambda: len(receipts) == 2)  # after the backoff, bound again

    assert [b[0] for b in smsc.binds].count("receiver") == 2
    assert [r.message_id for r in receipts] == [m.message_id for m in smsc.submitted]


def test_a_part_accepted_without_a_message_id_is_delivered_all_the_same(caplog) -> None:
    with FakeSmsc(message_ids=False) as smsc:
        SmppConnector(account(smsc)).deliver(message("closed"))

    assert len(smsc.submitted) == 2
    assert "without a message id" in caplog.text


# --- SMPP over TLS (GATEWAY_SMPP_TLS, GATEWAY_SMPP_CA) -------------------------------------------


@pytest.fixture
def tls_smsc(smtp_certificate) -> Iterator[FakeSmsc]:
    """The fake SMSC behind TLS, with a certificate for 127.0.0.1 the dev root CA issued."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*smtp_certificate)
    with FakeSmsc(system_id="hub", password="secret", tls=server) as fake:
        yield fake


def test_sms_and_receipts_over_tls_with_the_smscs_certificate_checked(tls_smsc: FakeSmsc, settings, dev_pki):
    """Through the settings a deployment sets: GATEWAY_SMPP_TLS=true and GATEWAY_SMPP_CA."""
    from gateway.faces.worker.connectors import smsc_account

    configured = settings.model_copy(
        update={"smpp_host": tls_smsc.host, "smpp_port": tls_smsc.port, "smpp_system_id": "hub",
                "smpp_password": "secret", "smpp_source_addr": SENDER, "smpp_tls": True,
                "smpp_ca": dev_pki.root_cert}
    )  # fmt: skip
    tls_account = smsc_account(configured)
    receipts: list[Receipt] = []
    with listening(ReceiptListener(tls_account, receipts.append)) as listener:
        assert listener.bound.wait(5)
        SmppConnector(tls_account).deliver(message())
        _until(lambda: len(receipts) == len(tls_smsc.submitted))
    assert tls_smsc.errors == [] and tls_smsc.submitted
    assert "".join(p.text for p in tls_smsc.submitted) == compose(message().payload)
    assert {r.state for r in receipts} == {"DELIVRD"}


def test_an_smsc_certificate_nobody_here_trusts_is_permanent(tls_smsc: FakeSmsc) -> None:
    untrusting = ssl.create_default_context()  # the system's CAs: the dev root is not among them
    with pytest.raises(DeliveryError) as refused:
        SmppConnector(account(tls_smsc, tls=untrusting)).deliver(message())
    assert refused.value.permanent and refused.value.reason == "the SMSC's certificate does not verify"
    assert tls_smsc.submitted == []


def test_a_plain_client_gets_nothing_from_a_tls_smsc(tls_smsc: FakeSmsc) -> None:
    with pytest.raises(DeliveryError) as failed:
        SmppConnector(account(tls_smsc, timeout=2.0)).deliver(message())
    assert not failed.value.permanent and tls_smsc.submitted == []
