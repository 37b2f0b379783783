"""The answer by e-mail (ReplyPreference=email), on the real database and a real SMTP server: the
answered event's e-mail carries the agency's answer readable in the body, the signed document and
the attachments attached, byte for byte; attachments too large for e-mail stay in the cabinet;
an applicant who wants the answer in the cabinet gets the notice only.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from uuid import UUID

import pytest

from connectors.mail.smtp import SmtpConnector
from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.service import delivery, events, intake, mailbox
from gateway.service.intake import IncomingAttachment
from gateway.service.notifications import APPLICANT_MAIL
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import ANSWER_TEXT, sample_answer, sample_appeal

AGENCY = "ADM-CHEBOKSARY"
ACT = b"%PDF-1.4 act of inspection\n" + bytes(range(256))


def _mailing(hub, monkeypatch, **settings) -> None:
    update = {"smtp_host": "127.0.0.1", **settings}
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(update=update))


def _answered(hub, portal, dev_pki, reply_preference: str, **kwargs) -> tuple[UUID, bytes]:
    appeal = sample_appeal(0, reply_preference=reply_preference, **kwargs)
    appeal_id = intake.accept(hub, portal.envelope(appeal)).appeal_id
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    today = clock_for("RU-59FZ", "Europe/Moscow").local_date(datetime.now(UTC))
    fields = {"registration_number": "ОГ-3", "registered_on": today.isoformat()}
    events.record(hub, AGENCY, appeal_id, parse_event("reg", "registered", fields))
    document = sample_answer(appeal_id, "ОГ-3", files={"act-1": ACT}, answered_on=today)
    signed = signed_answer(document, dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes())
    part = IncomingAttachment("act-1", io.BytesIO(ACT), len(ACT), hashlib.sha256(ACT).hexdigest())
    events.record(
        hub, AGENCY, appeal_id, parse_event("ans", "answered", {}, answer=signed, parts={"act-1": part})
    )
    return appeal_id, signed


def _send_the_answer_mail(hub, smtp, appeal_id: UUID):
    """Deliver the answered event's e-mail as a worker does (documents read from the blob store)."""
    with hub.pool.connection() as conn:
        row = conn.execute(
            "SELECT * FROM outbox_message"
            " WHERE appeal_id = %s AND connector = %s AND payload->>'type' = 'answered'",
            (appeal_id, APPLICANT_MAIL),
        ).fetchone()
        message = delivery.outgoing_message(conn, row, 1)
    SmtpConnector(smtp.host, port=smtp.port, security="none", sender="noreply@hub.example.ru").deliver(
        message
    )
    (received,) = smtp.received
    return row["payload"], received.message


def _attachments(mail) -> dict[str, tuple[str, bytes]]:
    return {a.get_filename(): (a.get_content_type(), a.get_content()) for a in mail.iter_attachments()}


def test_the_answer_reaches_an_applicant_who_wants_it_by_email(hub, portal, dev_pki, smtp, monkeypatch):
    _mailing(hub, monkeypatch)
    appeal_id, signed = _answered(hub, portal, dev_pki, "email")
    payload, mail = _send_the_answer_mail(hub, smtp, appeal_id)

    assert payload["reply_by_email"] and payload["attachments_attached"]
    assert "text" not in payload["answer"]  # the outbox names the document; the text is read at sending
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(("plain",)).get_content()
    assert ANSWER_TEXT in text and "Иванов Иван Иванович, Начальник управления ЖКХ" in text
    assert "answer.xml" in text and "приложения к ответу — там же" in text
    assert ANSWER_TEXT in mail.get_body(("html",)).get_content()
    assert _attachments(mail) == {
        "answer.xml": ("application/xml", signed),
        "act-1.pdf": ("application/pdf", ACT),
    }


def test_attachments_too_large_for_email_stay_in_the_cabinet(hub, portal, dev_pki, smtp, monkeypatch):
    _mailing(hub, monkeypatch, mail_max_attachment_bytes=len(ACT) - 1)
    appeal_id, signed = _answered(hub, portal, dev_pki, "email")
    payload, mail = _send_the_answer_mail(hub, smtp, appeal_id)

    assert not payload["attachments_attached"]
    assert _attachments(mail) == {"answer.xml": ("application/xml", signed)}
    assert "слишком велики для письма" in mail.get_body(("plain",)).get_content()


@pytest.mark.parametrize("preference", ["cabinet", "post"])
def test_an_applicant_who_wants_the_answer_elsewhere_gets_the_notice_only(
    hub, portal, dev_pki, smtp, monkeypatch, preference
):
    _mailing(hub, monkeypatch)
    appeal_id, _ = _answered(hub, portal, dev_pki, preference)
    payload, mail = _send_the_answer_mail(hub, smtp, appeal_id)

    assert "reply_by_email" not in payload and "documents" not in payload
    assert list(mail.iter_attachments()) == []
    text = mail.get_body(("plain",)).get_content()
    assert "Ответ доступен в личном кабинете" in text and ANSWER_TEXT not in text


def test_the_answer_goes_by_email_to_one_who_asked_for_no_email_notices(
    hub, portal, dev_pki, smtp, monkeypatch
):
    _mailing(hub, monkeypatch)
    appeal_id, signed = _answered(hub, portal, dev_pki, "email", notification_channels=("cabinet",))
    payload, mail = _send_the_answer_mail(hub, smtp, appeal_id)

    assert payload["reply_by_email"]
    assert _attachments(mail)["answer.xml"] == ("application/xml", signed)
    with hub.pool.connection() as conn:
        types = conn.execute(
            "SELECT payload->>'type' AS type FROM outbox_message WHERE appeal_id = %s AND connector = %s",
            (appeal_id, APPLICANT_MAIL),
        ).fetchall()
    assert [t["type"] for t in types] == ["answered"]  # no notice of the registration
