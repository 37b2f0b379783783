"""The applicant-mail connector against a real SMTP server on loopback (aiosmtpd): what the
applicant's mailbox gets, over plain SMTP, STARTTLS and implicit TLS with AUTH, and how each kind
of server reply is judged (4xx again later, 5xx dead with the code and never the server's words).

No database: the outbox message is built as the delivery worker hands it over.
"""

from __future__ import annotations

import socket
import ssl
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from typing import Any

import pytest

from connectors.mail.smtp import SmtpConnector
from gateway.domain.delivery import DeliveryError, OutgoingMessage
from gateway.domain.mail_ids import delivery_of
from tests.smtp import SMTP_PASSWORD, SMTP_USER, smtp_server

TO = "applicant@example.org"
CODE = "EK4CB25DEN"
NUMBER = "ОГ-2026/17"
LOOKUP = "https://appeals.example.ru/public/v1/status?number=%D0%9E%D0%93-2026%2F17&code=EK4CB25DEN"
SENDER = "Региональный узел обращений <noreply@appeals.example.ru>"


def _payload(**changes: Any) -> dict[str, Any]:
    payload = {
        "appeal_id": "00000000-0000-0000-0000-000000000001",
        "seq": 1,
        "type": "registered",
        "state": "registered",
        "at": "2026-12-02T09:00:00+00:00",
        "details": {"registration_number": NUMBER, "registered_on": "2026-12-02"},
        "appeal": {
            "state": "registered",
            "agency": {"code": "ADM-CHEBOKSARY", "name": "Администрация г. Чебоксары"},
            "registration": {"registration_number": NUMBER, "registered_on": "2026-12-02"},
            "answer_by": "2027-01-09",
            "registrations": [{"registration_number": NUMBER, "registered_on": "2026-12-02"}],
            "history": [],
        },
        "access_code": CODE,
        "language": "ru",
        "lookup_url": LOOKUP,
        "to": TO,
    }
    payload.update(changes)
    return payload


def _message(payload: dict[str, Any] | None = None, *, attempt: int = 1) -> OutgoingMessage:
    appeal_id = uuid.UUID(int=1)
    return OutgoingMessage(
        id=42, connector="applicant-mail", appeal_id=appeal_id, seq=1,
        idempotency_key=f"applicant-mail:{appeal_id}:1", payload=payload or _payload(),
        created_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC), attempt=attempt,
    )  # fmt: skip


def _connector(server, **kwargs: Any) -> SmtpConnector:
    return SmtpConnector(
        server.host, port=server.port, security=kwargs.pop("security", server.security), sender=SENDER,
        timeout=5, **kwargs,
    )  # fmt: skip


@pytest.fixture
def trusting(dev_pki) -> ssl.SSLContext:
    """What the worker builds from GATEWAY_SMTP_CA_FILE: trusts the dev root only."""
    return ssl.create_default_context(cafile=str(dev_pki.root_cert))


def test_the_applicant_gets_text_and_html_in_russian_with_number_code_and_link(smtp):
    _connector(smtp).deliver(_message())

    (received,) = smtp.received
    assert received.mail_from == "noreply@appeals.example.ru"
    assert received.rcpt_tos == [TO]
    received.data.decode("ascii")  # 7-bit clean on the wire: encoded words and base64, no raw UTF-8
    mail = received.message
    assert mail["Subject"] == f"Обращение зарегистрировано, № {NUMBER}"
    # Decoded as RFC 2047 says (white space between encoded words is dropped): the stdlib's
    # address parser keeps it, and would read the folded name as "… обращ ений".
    raw_from = BytesParser(policy=policy.compat32).parsebytes(received.data)["From"]
    assert str(make_header(decode_header(raw_from))) == SENDER
    assert mail["To"] == TO
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Content-Language"] == "ru"
    assert mail["Date"].datetime == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert mail["Message-ID"].endswith("@appeals.example.ru>")
    assert "List-Unsubscribe" not in mail  # transactional, per appeal: nothing to unsubscribe from
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert NUMBER in body and CODE in body and "Администрация г. Чебоксары" in body
        assert "02.12.2026" in body and "09.01.2027" in body
    assert LOOKUP in text
    assert LOOKUP.replace("&", "&amp;") in html  # escaped in the href, as HTML wants
    assert 'lang="ru"' in html


def test_belarusian_for_a_300z_agency(smtp):
    _connector(smtp).deliver(_message(_payload(language="be")))

    mail = smtp.received[0].message
    assert mail["Subject"] == f"Зварот зарэгістраваны, № {NUMBER}"
    assert mail["Content-Language"] == "be"
    assert "Код доступу для праверкі статусу: " + CODE in mail.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("event", "details", "expected"),
    [
        ("redirected", {"target_agency": "MINSTROY-21", "reason": "вопрос <строительства>"},
         "перенаправлено по компетенции"),
        ("extended", {"new_due_date": "2027-02-08", "reason": "нужна выездная проверка"},
         "продлён до 09.01.2027"),
        ("answered", {"answered_on": "2026-12-20"}, "дан ответ"),
        ("declined", {"ground": "no-question"}, "невозможно установить его суть"),
        ("closed", {}, "завершено"),
    ],
)  # fmt: skip
def test_each_event_says_what_happened(smtp, event, details, expected):
    _connector(smtp).deliver(_message(_payload(type=event, details=details)))

    mail = smtp.received[0].message
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert expected in text
    if "reason" in details:  # the agency's words, escaped in HTML
        assert details["reason"] in text
        assert details["reason"].replace("<", "&lt;").replace(">", "&gt;") in html


def test_starttls_with_authentication(smtp_certificate, trusting):
    with smtp_server("starttls", certificate=smtp_certificate, auth=True) as server:
        _connector(server, user=SMTP_USER, password=SMTP_PASSWORD, ssl_context=trusting).deliver(_message())
        (received,) = server.received
    assert received.tls and received.user == SMTP_USER


@pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS"
)  # it is TLS: aiosmtpd cannot tell
def test_implicit_tls_with_authentication(smtp_certificate, trusting):
    with smtp_server("tls", certificate=smtp_certificate, auth=True) as server:
        _connector(server, user=SMTP_USER, password=SMTP_PASSWORD, ssl_context=trusting).deliver(_message())
        (received,) = server.received
    assert received.tls and received.user == SMTP_USER


def _refused(connector: SmtpConnector, message: OutgoingMessage | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message or _message())
    return caught.value


def test_a_certificate_nobody_here_trusts_is_permanent(smtp_certificate):
    with smtp_server("starttls", certificate=smtp_certificate) as server:
        error = _refused(_connector(server))  # the system's CAs: the dev root is not among them
        assert server.received == []
    assert error.permanent and "certificate" in error.reason


def test_a_wrong_password_is_permanent(smtp_certificate, trusting):
    with smtp_server("starttls", certificate=smtp_certificate, auth=True) as server:
        error = _refused(_connector(server, user=SMTP_USER, password="wrong", ssl_context=trusting))
    assert error.permanent and error.reason.startswith("SMTP 535") and error.reason.endswith("at auth")


def test_no_starttls_where_it_is_required_is_permanent(smtp):
    error = _refused(_connector(smtp, security="starttls"))
    assert error.permanent and "starttls" in error.reason


@pytest.mark.parametrize(
    ("stage", "reply", "permanent", "reason"),
    [
        ("RCPT", f"450 4.2.0 <{TO}>: Recipient rejected: greylisted", False, "SMTP 450 4.2.0 at rcpt"),
        ("RCPT", f"550 5.1.1 <{TO}>: Recipient rejected: User unknown", True, "SMTP 550 5.1.1 at rcpt"),
        ("DATA", "451 4.3.0 Error: queue file write error", False, "SMTP 451 4.3.0 at data"),
        ("DATA", f"554 5.7.1 <{TO}>: message refused as spam", True, "SMTP 554 5.7.1 at data"),
    ],
)  # fmt: skip
def test_4xx_is_tried_again_5xx_is_dead_and_the_reason_is_only_the_code(
    smtp, stage, reply, permanent, reason
):
    smtp.handler.replies[stage] = reply
    error = _refused(_connector(smtp))
    assert (error.permanent, error.reason) == (permanent, reason)
    assert error.retry_after is None
    assert smtp.received == []


@pytest.mark.parametrize("address", ["not an address", "x@", "", "a@b.ru, c@d.ru", "local@nodot"])
def test_an_address_no_server_could_take_is_permanent_and_not_repeated(smtp, address):
    error = _refused(_connector(smtp), _message(_payload(to=address)))
    assert (error.permanent, error.reason) == (True, "the applicant's e-mail address is not usable")
    assert smtp.handler.in_data == 0


def test_no_server_listening_is_tried_again():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = _refused(SmtpConnector("127.0.0.1", port=port, security="none", sender=SENDER, timeout=2))
    assert not error.permanent and error.reason == "SMTP ConnectionRefusedError at connect"


def test_every_attempt_carries_the_same_message_id_and_a_bounce_names_the_delivery(smtp):
    connector = _connector(smtp)
    first, second = _message(attempt=1), _message(attempt=2)
    connector.deliver(first)
    connector.deliver(second)
    ids = [r.message["Message-ID"] for r in smtp.received]
    assert ids[0] == ids[1]
    keys = {first.id: first.idempotency_key}
    assert delivery_of(ids[0], keys.get) == first.id
    other = replace(first, idempotency_key="applicant-mail:someone-else:1")
    assert delivery_of(ids[0], {first.id: other.idempotency_key}.get) is None  # digest must match
    assert delivery_of("<CAB1234@mail.example.com>", keys.get) is None
