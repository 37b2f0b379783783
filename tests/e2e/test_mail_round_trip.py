"""The issue's "done when", as deployed: `appeals-gateway worker` (its relay polling a real Dovecot,
Celery on the real RabbitMQ) sends e-mail through a real SMTP server (aiosmtpd) and SMS to a fake
SMSC on a real socket.

* an appeal filed with e-mail and SMS notifications gets both, for each event, with its number
  and access code;
* an e-mailed appeal goes from the mailbox (the relay's poller) through moderation to an agency,
  its sender is told, and the agency's answer comes back to the sender by e-mail; a rejected one's
  sender gets the reason.

Operators' and agencies' steps run through the service layer in this process (the shared e2e hub
process has neither SMTP nor an SMSC configured, so other tests queue no mail); what is end to
end is everything that leaves the hub: poller, relay, broker, worker, connectors, servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from uuid import UUID

import pytest

from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.service import events, incoming_mail, intake, mailbox
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import ANSWER_TEXT, sample_answer, sample_appeal
from gateway.simulators.smsc import FakeSmsc
from tests import mail_samples as samples
from tests.dovecot import PASSWORD
from tests.e2e.processes import running, wait_for

AGENCY = "ADM-CHEBOKSARY"
TOPIC, TERRITORY = "0005.0005.0056.1149", "97701000"


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(system_id="hub", password="secret") as fake:
        yield fake


@pytest.fixture
def notifying(hub, monkeypatch, smtp, smsc, dovecot):
    """This process's hub queues e-mail and SMS, as the deployed hub with both configured does."""
    settings = hub.settings.model_copy(
        update={"smtp_host": smtp.host, "smpp_host": smsc.host, "public_url": "https://a.example.ru",
                "mail_mailboxes": [dovecot.mailbox()]}
    )  # fmt: skip
    monkeypatch.setattr(hub, "settings", settings)
    return hub


@pytest.fixture
def env(worker_env, smtp, smsc, dovecot) -> dict[str, str]:
    box = {**dovecot.mailbox().model_dump(mode="json"), "password": PASSWORD}  # dumped as ******
    return {
        **worker_env,
        "GATEWAY_SMTP_HOST": smtp.host, "GATEWAY_SMTP_PORT": str(smtp.port), "GATEWAY_SMTP_SECURITY": "none",
        "GATEWAY_MAIL_FROM": "noreply@appeals.example.ru",
        "GATEWAY_SMPP_HOST": smsc.host, "GATEWAY_SMPP_PORT": str(smsc.port), "GATEWAY_SMPP_SYSTEM_ID": "hub",
        "GATEWAY_SMPP_PASSWORD": "secret", "GATEWAY_SMPP_SOURCE_ADDR": "Obrashch21",
        "GATEWAY_MAIL_MAILBOXES": json.dumps([box]), "GATEWAY_MAIL_POLL_SECONDS": "0.5",
    }  # fmt: skip


def _today() -> str:
    return clock_for("RU-59FZ", "Europe/Moscow").local_date(datetime.now(UTC)).isoformat()


def _take(hub, appeal_id: UUID) -> None:
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    assert leased.appeal_id == appeal_id
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))


def _record(hub, appeal_id: UUID, key: str, kind: str, **fields) -> None:
    events.record(hub, AGENCY, appeal_id, parse_event(key, kind, fields))


def _all_delivered(hub, count: int) -> bool:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT status FROM delivery WHERE connector IN ('applicant-mail', 'applicant-sms')"
        ).fetchall()
    return len(rows) == count and all(r["status"] == "delivered" for r in rows)


def _sms_texts(smsc: FakeSmsc) -> list[str]:
    """Each SMS the SMSC took, its parts joined (one concatenation reference per SMS)."""
    by_reference: dict[int, list] = {}
    for part in smsc.submitted:
        by_reference.setdefault(part.udh[3] if part.udh else id(part), []).append(part)
    return ["".join(p.text for p in sorted(parts, key=lambda p: p.udh[5] if p.udh else 0))
            for parts in by_reference.values()]  # fmt: skip


def test_an_appeal_with_email_and_sms_notifications_gets_both_for_each_event(
    notifying, portal, smtp, smsc, env, tmp_path
) -> None:
    hub = notifying
    appeal = sample_appeal(0, notification_channels=("cabinet", "email", "sms"))
    appeal_id = intake.accept(hub, portal.envelope(appeal)).appeal_id
    with running(["worker"], env, tmp_path) as worker:
        _take(hub, appeal_id)
        _record(hub, appeal_id, "reg", "registered", registration_number="ОГ-E2E/7", registered_on=_today())
        later = (datetime.now(UTC) + timedelta(days=45)).date().isoformat()
        _record(hub, appeal_id, "ext", "extended", new_due_date=later, reason="выездная проверка")
        _record(hub, appeal_id, "dec", "declined", ground="no-question")
        wait_for(lambda: _all_delivered(hub, 6), 90, "three e-mails and three SMS delivered", worker)

    mails = sorted((r.message for r in smtp.received), key=lambda m: m["Date"])
    subjects = {m["Subject"] for m in mails}
    assert subjects == {
        "Обращение зарегистрировано, № ОГ-E2E/7", "Срок рассмотрения обращения № ОГ-E2E/7 продлён",
        "Обращение № ОГ-E2E/7 оставлено без ответа по существу",
    }  # fmt: skip
    texts = sorted(_sms_texts(smsc))
    assert len(texts) == 3 and all("ОГ-E2E/7" in t for t in texts), texts
    with hub.pool.connection() as conn:
        code = conn.execute(
            "SELECT payload->>'access_code' AS c FROM outbox_message WHERE appeal_id = %s AND seq = 1"
            " AND connector = 'applicant-sms'",
            (appeal_id,),
        ).fetchone()["c"]
    registered_mail = next(m for m in mails if "зарегистрировано" in m["Subject"])
    assert f"Код доступа для проверки статуса: {code}" in registered_mail.get_body(("plain",)).get_content()
    assert any(t.startswith("Обращение зарегистрировано") and code in t for t in texts)
    assert {m.destination_addr for m in smsc.submitted} == {"79000000000"}


def test_an_e_mailed_appeal_goes_from_the_mailbox_to_an_agency_and_its_answer_back_by_e_mail(
    notifying, dev_pki, dovecot, smtp, env, tmp_path
) -> None:
    hub = notifying
    appeal_mail = samples.plain(subject="Ремонт крыши", sender="Иванов Иван <ivanov@example.ru>")
    unwanted = samples.plain(subject="Реклама", sender="Сидоров Пётр <sidorov@example.ru>")
    dovecot.deliver(appeal_mail, unwanted)
    with running(["worker"], env, tmp_path) as worker:
        wait_for(lambda: len(incoming_mail.queue(hub)) == 2, 60, "the relay's poller to file both", worker)
        queue = {m["subject"]: m for m in incoming_mail.queue(hub)}
        reg = incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
        appeal_id = incoming_mail.register(hub, "operator:test", queue["Ремонт крыши"]["id"], reg)
        incoming_mail.reject(hub, "operator:test", queue["Реклама"]["id"], "channel-not-allowed")

        _take(hub, appeal_id)
        _record(hub, appeal_id, "reg", "registered", registration_number="ОГ-E2E/8", registered_on=_today())
        document = sample_answer(appeal_id, "ОГ-E2E/8")
        answer = signed_answer(document, dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes())
        events.record(hub, AGENCY, appeal_id, parse_event("ans", "answered", {}, answer=answer))
        # two replies, and the registered and answered e-mails to the registered one's sender
        wait_for(lambda: _all_delivered(hub, 4), 90, "four e-mails delivered", worker)

    by_subject = {r.message["Subject"]: r for r in smtp.received}
    assert set(by_subject) == {
        "Ваше письмо зарегистрировано как обращение", "Ваше письмо не зарегистрировано как обращение",
        "Обращение зарегистрировано, № ОГ-E2E/8", "Дан ответ на обращение № ОГ-E2E/8",
    }  # fmt: skip
    registered = by_subject["Ваше письмо зарегистрировано как обращение"]
    assert registered.rcpt_tos == ["ivanov@example.ru"]
    original_id = message_from_bytes(appeal_mail, policy=policy.default)["Message-ID"]
    assert registered.message["In-Reply-To"].strip() == original_id
    rejected = by_subject["Ваше письмо не зарегистрировано как обращение"]
    assert rejected.rcpt_tos == ["sidorov@example.ru"]
    reason = rejected.message.get_body(("plain",)).get_content()
    assert "электронная почта с 30.03.2025 не является способом подачи обращений" in reason
    assert "gosuslugi.ru" in reason  # where to file instead (GATEWAY_MAIL_FILE_INSTEAD's default)
    numbered = by_subject["Обращение зарегистрировано, № ОГ-E2E/8"]
    assert numbered.rcpt_tos == ["ivanov@example.ru"]
    assert "Код доступа для проверки статуса: " in numbered.message.get_body(("plain",)).get_content()
    answered = by_subject["Дан ответ на обращение № ОГ-E2E/8"]
    assert answered.rcpt_tos == ["ivanov@example.ru"]
    assert ANSWER_TEXT in answered.message.get_body(("plain",)).get_content()
    attached = {a.get_filename(): a.get_content() for a in answered.message.iter_attachments()}
    assert attached["answer.xml"] == answer  # the signed answer, byte for byte
