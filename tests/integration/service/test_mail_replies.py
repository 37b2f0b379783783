"""The replies moderation owes the senders of e-mailed appeals, on the real database, a real IMAP
server (Dovecot) and a real SMTP server (aiosmtpd): each is an ``applicant-mail`` outbox delivery
(migration 0017), attempted as a worker attempts it, retried, dead and replayed like any other.

The broker is a port here (tests/integration/service/test_delivery.py explains why); the e2e test
``tests/e2e/test_mail_round_trip.py`` runs the same path through the relay and a Celery worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from email import message_from_bytes, policy

import pytest

from connectors.mail.imap import open_mailbox
from gateway.faces.worker.connectors import ConnectorRegistry
from gateway.service import delivery, incoming_mail
from gateway.service.hub import Hub
from gateway.service.notifications import APPLICANT_MAIL
from tests import mail_samples as samples
from tests.integration.service.test_delivery import POLICY, RecordingPublisher

AGENCY = "ADM-CHEBOKSARY"
TOPIC, TERRITORY = "0005.0005.0056.1149", "97701000"
PORTAL = "https://portal.example.ru/obrashcheniya"


@pytest.fixture
def replying(hub, dovecot, smtp):
    """The hub polling the test IMAP server and sending through the test SMTP server."""
    settings = hub.settings.model_copy(
        update={"mail_mailboxes": [dovecot.mailbox()], "smtp_host": smtp.host, "smtp_port": smtp.port,
                "smtp_security": "none", "mail_from": "noreply@appeals.example.ru",
                "mail_file_instead": PORTAL}
    )  # fmt: skip
    return Hub(settings=settings, pool=hub.pool, database_url=hub.database_url)


def _filed(hub, dovecot, *raw: bytes) -> list[dict]:
    dovecot.deliver(*raw)
    (result,) = incoming_mail.poll_all(hub, open_mailbox)
    assert result.filed == len(raw), result
    return incoming_mail.queue(hub)


def _reply_row(hub, mail_id) -> dict | None:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT * FROM delivery WHERE incoming_mail_id = %s", (mail_id,)).fetchone()


def _attempt(hub, outbox_id: int) -> str:
    """Publish what is due and run this row's attempt, as the relay and a worker do."""
    publisher = RecordingPublisher()
    delivery.relay_once(hub, publisher)
    attempt = dict(publisher.published)[outbox_id]
    return delivery.attempt(hub, outbox_id, attempt, ConnectorRegistry(hub.settings, hub).resolve, POLICY)


def _agency_name(hub) -> str:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT name FROM agency WHERE code = %s", (AGENCY,)).fetchone()["name"]


def _message_id_of(raw: bytes) -> str:
    return message_from_bytes(raw, policy=policy.default)["Message-ID"]


def test_a_registered_e_mails_sender_is_told_which_agency_has_it_in_a_reply_threaded_under_it(
    replying, dovecot, smtp
):
    raw = samples.plain()
    (waiting,) = _filed(replying, dovecot, raw)
    reg = incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
    appeal_id = incoming_mail.register(replying, "operator:test", waiting["id"], reg)

    row = _reply_row(replying, waiting["id"])
    assert (row["connector"], row["appeal_id"], row["seq"], row["status"]) == (
        APPLICANT_MAIL, appeal_id, 0, "pending",
    )  # fmt: skip
    assert row["idempotency_key"] == f"applicant-mail:reply:{waiting['id']}"
    assert _attempt(replying, row["id"]) == "delivered"

    (received,) = smtp.received
    mail = received.message
    text = mail.get_body(("plain",)).get_content()
    assert received.rcpt_tos == ["ivanov@example.ru"]
    assert mail["Subject"] == "Ваше письмо зарегистрировано как обращение"
    assert "«Ремонт крыши»" in text and f"Оно направлено: {_agency_name(replying)}." in text
    assert "Регистрационный номер и код доступа" in text  # they follow when the agency registers
    assert mail["In-Reply-To"].strip() == mail["References"].strip() == _message_id_of(raw)  # may fold
    assert mail["Auto-Submitted"] == "auto-generated"
    shown = incoming_mail.show(replying, waiting["id"])
    assert (shown["reply_status"], shown["reply_outbox_id"]) == ("delivered", row["id"])


def test_a_rejected_e_mails_sender_gets_the_reason_and_where_to_file_and_a_dead_reply_is_replayed(
    replying, dovecot, smtp
):
    (waiting,) = _filed(replying, dovecot, samples.plain())
    incoming_mail.reject(replying, "operator:test", waiting["id"], "channel-not-allowed")
    row = _reply_row(replying, waiting["id"])
    assert row["appeal_id"] is None and row["incoming_mail_id"] == waiting["id"]  # no appeal: 0017

    smtp.handler.replies["RCPT"] = "550 5.1.1 no such mailbox"
    assert _attempt(replying, row["id"]) == "dead"
    assert _reply_row(replying, waiting["id"])["last_error"] == "SMTP 550 5.1.1 at rcpt"
    listed = subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli.main", "deliveries", "list", "--status", "dead"],
        env={**os.environ, "DATABASE_URL": replying.database_url}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert f"e-mail {waiting['id']} #0  SMTP 550 5.1.1 at rcpt" in listed.stdout, listed.stderr
    smtp.handler.replies.clear()
    (revived,) = delivery.replay(replying, "operator:test", ids=[row["id"]])
    assert revived["appeal_id"] is None
    assert _attempt(replying, row["id"]) == "delivered"

    (received,) = smtp.received
    text = received.message.get_body(("plain",)).get_content()
    assert received.message["Subject"] == "Ваше письмо не зарегистрировано как обращение"
    assert "электронная почта с 30.03.2025 не является способом подачи обращений" in text
    assert f"Подать обращение в электронной форме можно здесь: {PORTAL}" in text
    with replying.pool.connection() as conn:
        audit = conn.execute(
            "SELECT appeal_id, details FROM audit_record WHERE action = 'delivery-replayed'"
        ).fetchone()
    assert audit["appeal_id"] is None and audit["details"]["outbox_id"] == row["id"]


def test_a_belarusian_mailbox_rejects_in_belarusian_with_the_operators_words(replying, dovecot, smtp):
    box = replying.settings.mail_mailboxes[0].model_copy(update={"language": "be"})
    hub = Hub(
        settings=replying.settings.model_copy(update={"mail_mailboxes": [box]}),
        pool=replying.pool, database_url=replying.database_url,
    )  # fmt: skip
    (waiting,) = _filed(hub, dovecot, samples.plain())
    incoming_mail.reject(hub, "operator:test", waiting["id"], "other", "Ліст без подпісу")
    assert _attempt(hub, _reply_row(hub, waiting["id"])["id"]) == "delivered"
    mail = smtp.received[0].message
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Ваш ліст не зарэгістраваны як зварот" and mail["Content-Language"] == "be"
    assert "Прычына: іншая." in text and "Ліст без подпісу" in text and PORTAL not in text


def test_robots_get_no_reply_and_a_hub_without_smtp_only_records_what_is_owed(replying, hub, dovecot):
    human, robot = sorted(
        _filed(replying, dovecot, samples.plain(), samples.auto_reply()),
        key=lambda r: "auto-reply" in r["labels"],
    )
    incoming_mail.reject(replying, "operator:test", robot["id"], "not-an-appeal")
    assert _reply_row(replying, robot["id"]) is None  # RFC 3834: never answer a robot
    without_smtp = Hub(
        settings=replying.settings.model_copy(update={"smtp_host": None}),
        pool=hub.pool, database_url=hub.database_url,
    )  # fmt: skip
    incoming_mail.reject(without_smtp, "operator:test", human["id"], "anonymous")
    assert _reply_row(replying, human["id"]) is None
    shown = incoming_mail.show(replying, human["id"])
    assert (shown["reply_template"], shown["reply_outbox_id"]) == ("mail-rejected", None)
