"""E-mail to applicants as deployed: the event is recorded by the service layer with SMTP
configured, then the outbox relay and a Celery worker process on the real RabbitMQ carry the
notification to a real SMTP server on loopback (aiosmtpd, in this test process).

The events are recorded in-process, not through the REST face: the shared hub process of the e2e
tests runs without SMTP (so other tests' appeals queue no e-mail), and the hook is the same code
either way. Delivery is what is end to end here: relay, broker, worker, connector, SMTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.service import events, intake, mailbox
from gateway.simulators.samples import sample_appeal
from tests.e2e.processes import Process, running, wait_for

AGENCY = "ADM-CHEBOKSARY"
NUMBER = "ОГ-E2E/1"


@pytest.fixture
def mailing(hub, monkeypatch):
    settings = hub.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "public_url": "https://a.example.ru"}
    )
    monkeypatch.setattr(hub, "settings", settings)
    return hub


@pytest.fixture
def env(worker_env, smtp) -> dict[str, str]:
    return {
        **worker_env,
        "GATEWAY_SMTP_HOST": smtp.host,
        "GATEWAY_SMTP_PORT": str(smtp.port),
        "GATEWAY_SMTP_SECURITY": "none",
        "GATEWAY_MAIL_FROM": "Узел обращений <noreply@appeals.example.ru>",
    }


def _registered(hub, portal) -> UUID:
    appeal_id = intake.accept(hub, portal.envelope(sample_appeal(0))).appeal_id
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    today = clock_for("RU-59FZ", "Europe/Moscow").local_date(datetime.now(UTC)).isoformat()
    fields = {"registration_number": NUMBER, "registered_on": today}
    events.record(hub, AGENCY, appeal_id, parse_event("reg", "registered", fields))
    return appeal_id


def _code(hub, appeal_id: UUID) -> str:
    with hub.pool.connection() as conn:
        return conn.execute(
            "SELECT payload->>'access_code' AS code FROM outbox_message"
            " WHERE appeal_id = %s AND connector = 'applicant-mail'",
            (appeal_id,),
        ).fetchone()["code"]


def _delivered(hub, appeal_id: UUID) -> bool:
    with hub.pool.connection() as conn:
        row = conn.execute(
            "SELECT status FROM delivery WHERE appeal_id = %s AND connector = 'applicant-mail'", (appeal_id,)
        ).fetchone()
    return row is not None and row["status"] == "delivered"


def _check_the_mail(received, code: str) -> str:
    mail = received.message
    text = mail.get_body(("plain",)).get_content()
    assert received.rcpt_tos == ["applicant@example.org"]
    assert mail["Subject"] == f"Обращение зарегистрировано, № {NUMBER}"
    assert NUMBER in text and f"Код доступа для проверки статуса: {code}" in text
    return mail["Message-ID"]


def test_the_registration_reaches_the_applicants_mailbox_with_number_and_code(
    mailing, portal, smtp, env, tmp_path
) -> None:
    with running(["worker"], env, tmp_path) as worker:
        appeal_id = _registered(mailing, portal)
        wait_for(lambda: smtp.received, 60, "the e-mail at the SMTP server", worker)
        wait_for(lambda: _delivered(mailing, appeal_id), 30, "the delivery recorded", worker)
    (received,) = smtp.received
    _check_the_mail(received, _code(mailing, appeal_id))


def test_a_worker_killed_mid_send_loses_no_notification(mailing, portal, smtp, env, tmp_path) -> None:
    smtp.handler.delay = 3.0  # the killed worker's DATA is in the server's hands, unanswered
    first = Process(["worker"], env, tmp_path / "worker-1.log")
    try:
        appeal_id = _registered(mailing, portal)
        wait_for(lambda: smtp.handler.in_data, 30, "a message in the server's DATA", first)
        first.kill()  # SIGKILL to the whole group: the worker, its pool, its relay
    finally:
        first.stop()
    smtp.handler.delay = 0.0
    with running(["worker"], env, tmp_path) as second:
        wait_for(lambda: _delivered(mailing, appeal_id), 60, "the delivery recorded", second)
    # The server took the killed attempt's message too (SMTP cannot tell a repeat): at worst the
    # applicant has it twice, under one Message-ID, which mail clients show once.
    code = _code(mailing, appeal_id)
    ids = {_check_the_mail(r, code) for r in smtp.received}
    assert len(smtp.received) in (1, 2) and len(ids) == 1
