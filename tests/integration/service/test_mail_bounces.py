"""A bounce matched to the e-mail it is about, on the real database: the notification is sent
through the connector to the recording SMTP server, a DSN quoting what that server received comes
back, and the delivery goes dead with the bounce's status for operators, never retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import UUID

import pytest

from connectors.mail.smtp import SmtpConnector
from gateway.adapters.db import outbox as outbox_db
from gateway.domain.bounces import read_dsn
from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.service import delivery, events, intake, mailbox, monitoring
from gateway.service.notifications import APPLICANT_MAIL, record_bounce
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"


@pytest.fixture
def mailing(hub, monkeypatch):
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(update={"smtp_host": "127.0.0.1"}))
    return hub


def _sent(hub, portal, smtp) -> tuple[UUID, int, bytes]:
    """An appeal registered, its e-mail delivered to the SMTP server: (appeal, outbox id, what the
    server received)."""
    appeal_id = intake.accept(hub, portal.envelope(sample_appeal(0))).appeal_id
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    today = clock_for("RU-59FZ", "Europe/Moscow").local_date(datetime.now(UTC)).isoformat()
    fields = {"registration_number": "ОГ-9", "registered_on": today}
    events.record(hub, AGENCY, appeal_id, parse_event("reg", "registered", fields))
    connector = SmtpConnector(smtp.host, port=smtp.port, security="none", sender="noreply@hub.example.ru")
    with hub.pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT * FROM outbox_message WHERE appeal_id = %s AND connector = %s",
            (appeal_id, APPLICANT_MAIL),
        ).fetchone()
        connector.deliver(delivery.outgoing_message(conn, row, 1))
        outbox_db.finish_attempt(conn, row["id"], 1, datetime.now(UTC), outcome="delivered")
    return appeal_id, row["id"], smtp.received[0].data


def _dsn(original: bytes, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A DSN as Postfix writes one: the human part, the status, the original's headers."""
    headers = original.split(b"\r\n\r\n", 1)[0]
    return b"\r\n".join(
        [
            b"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)",
            b"To: noreply@hub.example.ru",
            b"Subject: Undelivered Mail Returned to Sender",
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
            b"",
            b"--B",
            b"Content-Type: text/plain; charset=us-ascii",
            b"",
            b"I'm sorry to have to inform you that your message could not be delivered.",
            b"<applicant@example.org>: host mx.example.org said: 550 5.1.1 User unknown",
            b"",
            b"--B",
            b"Content-Type: message/delivery-status",
            b"",
            b"Reporting-MTA: dns; mx.example.org",
            b"",
            b"Final-Recipient: rfc822; applicant@example.org",
            b"Action: " + action.encode(),
            b"Status: " + status.encode(),
            b"Diagnostic-Code: smtp; 550 5.1.1 <applicant@example.org>: User unknown",
            b"",
            b"--B",
            b"Content-Type: text/rfc822-headers",
            b"",
            headers,
            b"",
            b"--B--",
            b"",
        ]
    )


def _delivery(hub, outbox_id: int) -> dict:
    with hub.pool.connection() as conn:
        return conn.execute(
            "SELECT status, last_error, attempts FROM delivery WHERE id = %s", (outbox_id,)
        ).fetchone()


def test_a_bounce_makes_its_delivery_dead_with_the_status_and_nothing_retries_it(mailing, portal, smtp):
    appeal_id, outbox_id, received = _sent(mailing, portal, smtp)
    bounce = read_dsn(_dsn(received))
    assert bounce is not None and (bounce.action, bounce.status) == ("failed", "5.1.1")

    assert record_bounce(mailing, bounce.message_id, bounce.action, bounce.status) == "recorded"
    assert _delivery(mailing, outbox_id) == {"status": "dead", "last_error": "bounced 5.1.1", "attempts": 2}
    with mailing.pool.connection() as conn:
        attempts = conn.execute(
            "SELECT attempt, outcome FROM delivery_attempt WHERE outbox_id = %s ORDER BY attempt",
            (outbox_id,),
        ).fetchall()
        audit = conn.execute(
            "SELECT actor, details FROM audit_record WHERE appeal_id = %s AND action = 'delivery-bounced'",
            (appeal_id,),
        ).fetchall()
        due = outbox_db.claim_due(conn, 100)
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "delivered"), (2, "bounced")]
    assert [a["details"]["status"] for a in audit] == ["5.1.1"] and audit[0]["actor"] == "mail:bounce"
    assert outbox_id not in {r["id"] for r in due}  # not retried
    stuck = monitoring.deliveries(mailing, connector=APPLICANT_MAIL).stuck
    assert [(d["id"], d["last_error"]) for d in stuck] == [(outbox_id, "bounced 5.1.1")]
    # the same DSN read again (the poller met it twice) changes nothing
    assert record_bounce(mailing, bounce.message_id, bounce.action, bounce.status) == "repeated"
    assert _delivery(mailing, outbox_id)["attempts"] == 2


def test_a_delay_report_is_no_failure(mailing, portal, smtp):
    _, outbox_id, received = _sent(mailing, portal, smtp)
    bounce = read_dsn(_dsn(received, action="delayed", status="4.4.1"))
    assert bounce is not None
    assert record_bounce(mailing, bounce.message_id, bounce.action, bounce.status) == "ignored"
    assert _delivery(mailing, outbox_id)["status"] == "delivered"


def test_a_forged_or_foreign_message_id_matches_nothing(mailing, portal, smtp):
    _, outbox_id, received = _sent(mailing, portal, smtp)
    bounce = read_dsn(_dsn(received))
    assert bounce is not None
    forged = bounce.message_id.replace(".", ".0", 1)[:-18] + "0123456789abcdef@hub.example.ru>"
    for message_id in (
        forged,
        "<CAB1234@mail.example.com>",
        f"<n{outbox_id}.0000000000000000@hub.example.ru>",
    ):
        assert record_bounce(mailing, message_id, "failed", "5.1.1") == "unmatched"
    assert _delivery(mailing, outbox_id)["status"] == "delivered"


def test_what_is_not_a_dsn_is_not_read():
    plain = EmailMessage()
    plain["Subject"] = "Re: Обращение зарегистрировано"
    plain.set_content("Спасибо!")
    assert read_dsn(bytes(plain)) is None


def test_a_bounce_the_poller_files_settles_its_e_mail(mailing, portal, smtp, dovecot):
    """From the wire: the DSN arrives in a polled mailbox, the poller files it (labelled) and hands
    it over, and the e-mail's delivery goes dead with the bounce's status."""
    from connectors.mail.imap import open_mailbox
    from gateway.service import incoming_mail
    from gateway.service.hub import Hub

    _appeal_id, outbox_id, sent = _sent(mailing, portal, smtp)
    dovecot.deliver(_dsn(sent))
    settings = mailing.settings.model_copy(update={"mail_mailboxes": [dovecot.mailbox()]})
    poller = Hub(settings=settings, pool=mailing.pool, database_url=mailing.database_url)
    for _ in range(2):  # a second poll files nothing again, and settles nothing twice
        (result,) = incoming_mail.poll_all(poller, open_mailbox)
        assert result.error is None
    row = _delivery(mailing, outbox_id)
    assert (row["status"], row["last_error"]) == ("dead", "bounced 5.1.1")
    (filed,) = incoming_mail.queue(poller)
    assert "bounce" in filed["labels"]
