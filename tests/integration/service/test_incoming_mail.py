"""The mail poller against a real IMAP server (Dovecot) and the real database, and moderation
through the service layer: filed once, labelled, quarantined, registered into an agency's mailbox
with its legal clock, or rejected with a reason the sender will be told."""

from __future__ import annotations

import tarfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from lxml import etree

from connectors.mail.imap import open_mailbox
from gateway.config import PROJECT_ROOT
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.faces.soap import codec
from gateway.service import archive, events, incoming_mail, mailbox
from gateway.service.hub import Hub
from tests import mail_samples as samples
from tests.attachment_samples import nested
from tests.clamd import EICAR, EICAR_SIGNATURE

AGENCY = "ADM-CHEBOKSARY"
TOPIC, TERRITORY = "0005.0005.0056.1149", "97701000"
SED_SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd")))


@pytest.fixture
def mail_hub(hub, dovecot):
    """The hub polling the test server's mailbox (implicit TLS, the server's own CA)."""
    settings = hub.settings.model_copy(update={"mail_mailboxes": [dovecot.mailbox()]})
    return Hub(settings=settings, pool=hub.pool, database_url=hub.database_url)


def _poll(hub) -> incoming_mail.PollResult:
    (result,) = incoming_mail.poll_all(hub, open_mailbox)
    assert result.error is None and result.failed == result.not_moved == 0, result
    return result


def _all(hub) -> list[dict]:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT * FROM incoming_mail ORDER BY filed_at").fetchall()


def test_polling_twice_files_each_message_once_and_moves_it(mail_hub, dovecot):
    sent = [samples.plain(), samples.windows_1251_qp(), samples.koi8r_base64(), samples.with_attachment(),
            samples.forwarded(), samples.html_only()]  # fmt: skip
    dovecot.deliver(*sent)
    first = _poll(mail_hub)
    assert (first.filed, first.quarantined, first.already_filed) == (6, 0, 0)
    assert (dovecot.count("INBOX"), dovecot.count("Filed")) == (0, 6)
    assert _poll(mail_hub).filed == 0

    # The same message again (a second copy delivered, or relayed with other headers): filed once.
    resent = sent[0].replace(b"Subject:", b"Received: from relay2.example.ru\r\nSubject:", 1)
    dovecot.deliver(sent[0], resent)
    again = _poll(mail_hub)
    assert (again.filed, again.already_filed) == (0, 2)
    rows = _all(mail_hub)
    assert len(rows) == 6 and {r["state"] for r in rows} == {"waiting"}
    assert {r["text"] for r in rows if r["subject"] in ("Ремонт крыши", "Жалоба", "Обращение", "HTML")} == {
        samples.TEXT_RU
    }
    (with_pdf,) = [r for r in rows if r["subject"] == "Обращение с фото"]
    assert with_pdf["attachments"][0]["file_name"] == "акт осмотра.pdf"
    assert with_pdf["sender"] == "petrova@example.ru" and with_pdf["sender_name"] == "Петрова Анна Сергеевна"


def test_a_message_filed_but_not_moved_is_only_moved_by_the_next_poll(mail_hub, dovecot):
    dovecot.deliver(samples.plain())

    @contextmanager
    def crashing_before_the_move(box, timeout):
        with open_mailbox(box, timeout) as remote:
            remote.move = lambda uid, folder: (_ for _ in ()).throw(ConnectionResetError())
            yield remote

    (crashed,) = incoming_mail.poll_all(mail_hub, crashing_before_the_move)
    assert (crashed.filed, crashed.not_moved, crashed.failed) == (1, 1, 0)
    assert len(_all(mail_hub)) == 1 and dovecot.count("INBOX") == 1
    recovered = _poll(mail_hub)
    assert (recovered.filed, recovered.already_filed) == (0, 1)
    assert (dovecot.count("INBOX"), len(_all(mail_hub))) == (0, 1)


def test_auto_replies_bounces_and_spam_are_labelled_not_dropped(mail_hub, dovecot):
    dovecot.deliver(samples.auto_reply(), samples.bounce(), samples.spam())
    assert _poll(mail_hub).filed == 3
    labels = {r["subject"]: set(r["labels"]) for r in _all(mail_hub)}
    assert labels == {
        "Автоответ: Ремонт крыши": {"auto-reply"},
        "Undelivered Mail Returned to Sender": {"auto-reply", "bounce"},
        "Скидки": {"spam"},
    }
    assert [r["state"] for r in incoming_mail.queue(mail_hub)] == ["waiting"] * 3


def test_bad_mail_is_quarantined_with_its_reason_and_the_poller_goes_on(mail_hub, dovecot):
    hub = Hub(
        settings=mail_hub.settings.model_copy(update={"mail_max_message_bytes": 512 * 1024}),
        pool=mail_hub.pool, database_url=mail_hub.database_url,
    )  # fmt: skip
    dovecot.deliver(
        samples.plain(subject="первое"), samples.malformed_mime(), samples.thousands_of_parts(),
        samples.zip_bomb(), samples.undecodable_charset(), samples.oversize(600 * 1024),
        samples.plain(subject="последнее"),
    )  # fmt: skip
    result = _poll(hub)
    assert (result.filed, result.quarantined) == (2, 5)
    assert (dovecot.count("INBOX"), dovecot.count("Filed"), dovecot.count("Quarantine")) == (0, 2, 5)
    queue = incoming_mail.queue(hub, "quarantined")
    assert sorted(r["quarantine_reason"] for r in queue) == sorted(
        ["malformed-mime", "too-many-parts", "zip-bomb", "undecodable-charset", "oversize"]
    )
    (big,) = [r for r in queue if r["quarantine_reason"] == "oversize"]
    shown = incoming_mail.show(hub, big["id"])
    assert shown["raw_sha256"] is None and shown["size"] > 600 * 1024  # never fetched
    assert all(r["subject"] is None and r["sender"] is None for r in queue)  # nothing of the content
    with pytest.raises(Rejection) as refused:
        incoming_mail.register(
            hub, "operator:test", big["id"], incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
        )
    assert refused.value.code is Code.ILLEGAL_TRANSITION
    # Quarantined again by a second copy? No: its Message-ID is filed.
    dovecot.deliver(samples.malformed_mime())  # a fresh Message-ID: a new message, quarantined
    assert _poll(hub).quarantined == 1


def test_a_registered_e_mail_is_an_appeal_in_the_agencys_mailbox_with_its_clock(mail_hub, dovecot):
    raw = samples.with_attachment()
    dovecot.deliver(raw)
    _poll(mail_hub)
    (waiting,) = incoming_mail.queue(mail_hub)
    appeal_id = incoming_mail.register(
        mail_hub,
        "operator:test",
        waiting["id"],
        incoming_mail.Registration(AGENCY, TOPIC, TERRITORY, "complaint"),
    )

    (document,) = mailbox.lease_documents(mail_hub, AGENCY, 10)
    message = mailbox.leased_message(document)
    assert message.appeal_id == appeal_id and message.kind == "appeal"
    # The evidence: the e-mail exactly as the server held it (IMAP stores lines ending in CRLF).
    assert message.signed_xml == raw.replace(b"\n", b"\r\n")
    assert message_from_bytes(message.signed_xml, policy=policy.default)["Subject"] == "Обращение с фото"
    appeal = message.appeal
    assert appeal["portal_appeal_id"] == f"e-mail:{waiting['id']}"
    assert appeal["identity"] == {
        "provider": "e-mail",
        "subject_id": "petrova@example.ru",
        "assurance_level": "low",
    }
    assert appeal["applicant"]["email"] == "petrova@example.ru"
    assert appeal["applicant"]["person"]["last_name"] == "Петрова"
    assert (appeal["kind"], appeal["topic_code"], appeal["territory_code"]) == ("complaint", TOPIC, TERRITORY)
    assert appeal["text"] == samples.TEXT_RU and appeal["notification_channels"] == ["email"]
    (attachment,) = message.attachments
    assert (attachment.file_name, attachment.size) == ("акт осмотра.pdf", len(samples.PDF))
    # The SOAP face carries it within its schema, as it carries a portal appeal.
    SED_SCHEMA.assertValid(etree.fromstring(codec.messages_response([document])))

    with mail_hub.pool.connection() as conn:
        stored = conn.execute(
            "SELECT sender_id, state, register_by, received_at FROM appeal WHERE id = %s", (appeal_id,)
        ).fetchone()
        audit = conn.execute(
            "SELECT actor, action FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
        ).fetchall()
        reply = conn.execute("SELECT * FROM incoming_mail_reply").fetchone()
    assert stored["sender_id"] == "E-MAIL" and stored["register_by"] is not None
    assert stored["received_at"] == waiting["filed_at"]  # the clock runs from the hub's receipt
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("mail:appeals", "received"), ("operator:test", "routed"), ("agency:" + AGENCY, "leased"),
    ]  # fmt: skip
    assert (reply["template"], reply["recipient"], reply["params"]["agency_code"]) == (
        "mail-registered", "petrova@example.ru", AGENCY,
    )  # fmt: skip
    shown = incoming_mail.show(mail_hub, waiting["id"])
    assert (shown["state"], shown["appeal_id"], shown["decided_by"]) == (
        "registered",
        appeal_id,
        "operator:test",
    )
    with pytest.raises(Rejection) as twice:
        incoming_mail.reject(mail_hub, "operator:test", waiting["id"], "not-an-appeal")
    assert twice.value.code is Code.ILLEGAL_TRANSITION


def test_the_agencys_events_on_an_e_mailed_appeal_run_its_clock_and_queue_nothing_for_a_cabinet(
    mail_hub, dovecot
):
    dovecot.deliver(samples.plain())
    _poll(mail_hub)
    (waiting,) = incoming_mail.queue(mail_hub)
    reg = incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
    appeal_id = incoming_mail.register(mail_hub, "operator:test", waiting["id"], reg)
    fields = {"registration_number": "ОГ-77/2026", "registered_on": date.today().isoformat()}
    events.record(mail_hub, AGENCY, appeal_id, parse_event("reg-1", "registered", fields))
    with mail_hub.pool.connection() as conn:
        appeal = conn.execute("SELECT state, answer_by FROM appeal WHERE id = %s", (appeal_id,)).fetchone()
        queued = conn.execute("SELECT count(*) AS n FROM outbox_message WHERE appeal_id = %s", (appeal_id,))
        assert queued.fetchone()["n"] == 0  # no portal knows this appeal: no cabinet update
    assert appeal["state"] == "registered" and appeal["answer_by"] > date.today()


def test_the_archive_keeps_an_e_mailed_appeals_e_mail_as_eml(mail_hub, dovecot, tmp_path):
    raw = samples.plain()
    dovecot.deliver(raw)
    _poll(mail_hub)
    (waiting,) = incoming_mail.queue(mail_hub)
    incoming_mail.register(
        mail_hub, "op", waiting["id"], incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
    )
    now = datetime.now(UTC)
    out = tmp_path / "archive.tar"
    archive.export(mail_hub, now - timedelta(days=1), now + timedelta(days=1), out)
    with tarfile.open(out) as tar:
        (member,) = [m for m in tar.getmembers() if m.name.startswith("inbound/E-MAIL/")]
        assert member.name == f"inbound/E-MAIL/{waiting['id']}.eml"
        assert tar.extractfile(member).read() == raw.replace(b"\n", b"\r\n")


def test_registration_refusals(mail_hub, dovecot):
    dovecot.deliver(samples.plain())
    _poll(mail_hub)
    (waiting,) = incoming_mail.queue(mail_hub)
    cases = [
        (incoming_mail.Registration("NO-SUCH", TOPIC, TERRITORY), Code.AGENCY_UNKNOWN, "/agency_code"),
        (incoming_mail.Registration(AGENCY, "5.5", TERRITORY), Code.INVALID_REQUEST, "/topic_code"),
        (incoming_mail.Registration(AGENCY, TOPIC, "12"), Code.INVALID_REQUEST, "/territory_code"),
        (incoming_mail.Registration(AGENCY, TOPIC, TERRITORY, "petition"), Code.INVALID_REQUEST, "/kind"),
    ]
    for registration, code, pointer in cases:
        with pytest.raises(Rejection) as refused:
            incoming_mail.register(mail_hub, "operator:test", waiting["id"], registration)
        assert (refused.value.code, refused.value.pointer) == (code, pointer)
    assert incoming_mail.show(mail_hub, waiting["id"])["state"] == "waiting"


def test_a_rejection_is_recorded_with_its_reason_and_audited_and_robots_are_not_answered(mail_hub, dovecot):
    dovecot.deliver(samples.plain(), samples.auto_reply())
    _poll(mail_hub)
    human, robot = sorted(incoming_mail.queue(mail_hub), key=lambda r: "auto-reply" in r["labels"])
    incoming_mail.reject(mail_hub, "operator:test", human["id"], "channel-not-allowed")
    incoming_mail.reject(mail_hub, "operator:test", robot["id"], "other", "автоответ, не обращение")

    shown = incoming_mail.show(mail_hub, human["id"])
    assert (shown["state"], shown["rejection_reason"], shown["reply_template"]) == (
        "rejected", "channel-not-allowed", "mail-rejected",
    )  # fmt: skip
    assert "gosuslugi" in shown["reply_params"]["file_instead"]
    assert incoming_mail.show(mail_hub, robot["id"])["reply_template"] is None  # RFC 3834
    with mail_hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT actor, details FROM audit_record WHERE action = 'mail-rejected' ORDER BY id"
        ).fetchall()
    assert [(a["actor"], a["details"]["reason"]) for a in audit] == [
        ("operator:test", "channel-not-allowed"), ("operator:test", "other"),
    ]  # fmt: skip
    assert incoming_mail.queue(mail_hub) == []
    assert len(incoming_mail.queue(mail_hub, "rejected")) == 2


@pytest.mark.parametrize(
    ("reason", "comment", "pointer"),
    [("rude", None, "/reason"), ("other", None, "/comment"), ("other", "   ", "/comment"),
     ("other", "x" * 2001, "/comment")],
)  # fmt: skip
def test_a_rejection_needs_a_listed_reason_and_other_needs_a_comment(
    mail_hub, dovecot, reason, comment, pointer
):
    dovecot.deliver(samples.plain())
    _poll(mail_hub)
    (waiting,) = incoming_mail.queue(mail_hub)
    with pytest.raises(Rejection) as refused:
        incoming_mail.reject(mail_hub, "operator:test", waiting["id"], reason, comment)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


def test_starttls_works_and_a_server_certificate_not_trusted_is_an_error_not_a_crash(
    mail_hub, dovecot, tmp_path
):
    dovecot.deliver(samples.plain())
    starttls = dovecot.mailbox(port=dovecot.imap_port, tls="starttls")
    assert incoming_mail.poll(mail_hub, starttls, open_mailbox).filed == 1

    dovecot.deliver(samples.plain())
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(mail_hub.settings.trust_anchor_file.read_bytes())
    untrusted = incoming_mail.poll(mail_hub, dovecot.mailbox(ca_file=other_ca), open_mailbox)
    assert untrusted.error == "SSLCertVerificationError" and untrusted.filed == 0
    wrong_password = incoming_mail.poll(mail_hub, dovecot.mailbox(password="wrong"), open_mailbox)
    assert wrong_password.error is not None and dovecot.count("INBOX") == 1


def test_the_periodic_poller_files_mail_while_it_runs(mail_hub, dovecot):
    hub = Hub(
        settings=mail_hub.settings.model_copy(update={"mail_poll_seconds": 0.2}),
        pool=mail_hub.pool, database_url=mail_hub.database_url,
    )  # fmt: skip
    poller = incoming_mail.PeriodicPoller(hub, open_mailbox)
    thread = threading.Thread(target=poller.run)
    thread.start()
    try:
        dovecot.deliver(samples.plain())
        deadline = time.monotonic() + 20
        while not _all(hub) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        poller.stop.set()
        thread.join(timeout=30)
    assert len(_all(hub)) == 1 and not thread.is_alive()


def test_the_sender_of_a_registered_e_mail_gets_the_code_and_the_lookup_names_the_channel(mail_hub, dovecot):
    """No cabinet knows an e-mailed appeal: its access code reaches the sender in the registered
    notice by e-mail, every later notice repeats it, and the lookup says the appeal came by e-mail."""
    from gateway.service import status
    from gateway.service.notifications import APPLICANT_MAIL

    hub = Hub(
        settings=mail_hub.settings.model_copy(update={"smtp_host": "127.0.0.1"}),
        pool=mail_hub.pool,
        database_url=mail_hub.database_url,
    )
    dovecot.deliver(samples.plain())
    _poll(hub)
    (waiting,) = incoming_mail.queue(hub)
    appeal_id = incoming_mail.register(
        hub, "operator:test", waiting["id"], incoming_mail.Registration(AGENCY, TOPIC, TERRITORY)
    )
    fields = {"registration_number": "ОГ-78/2026", "registered_on": date.today().isoformat()}
    events.record(hub, AGENCY, appeal_id, parse_event("reg-1", "registered", fields))
    events.record(hub, AGENCY, appeal_id, parse_event("dec-1", "declined", {"ground": "no-question"}))
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT connector, payload FROM outbox_message WHERE appeal_id = %s ORDER BY seq", (appeal_id,)
        ).fetchall()
    # the reply moderation owed (seq 0, no code yet), then the registered and declined notices
    assert [r["connector"] for r in rows] == [APPLICANT_MAIL] * 3
    assert rows[0]["payload"]["type"] == "mail-registered" and "access_code" not in rows[0]["payload"]
    codes = {r["payload"]["access_code"] for r in rows[1:]}
    assert len(codes) == 1
    found = status.lookup(hub, "ОГ-78/2026", codes.pop())
    assert (found["channel"], found["state"]) == ("e-mail", "declined")


def test_infected_mail_is_quarantined_with_the_signature_and_clamd_away_leaves_it_for_the_next_poll(
    mail_hub, dovecot, clamd
):
    hub = Hub(
        settings=mail_hub.settings.model_copy(update={"clamd_address": clamd.socket}),
        pool=mail_hub.pool, database_url=mail_hub.database_url,
    )  # fmt: skip
    dovecot.deliver(
        samples.with_attachment(),
        samples.with_attachments(("scan.pdf", samples.PDF), ("docs.zip", nested(EICAR, "readme.txt", 2))),
    )
    result = _poll(hub)
    assert (result.filed, result.quarantined) == (1, 1)
    (infected,) = incoming_mail.queue(hub, "quarantined")
    assert infected["quarantine_reason"] == "infected"
    assert infected["quarantine_detail"].startswith(EICAR_SIGNATURE)
    assert len(incoming_mail.queue(hub, "waiting")) == 1  # the clean one, for the operator
    assert dovecot.count("Quarantine") == 1

    clamd.stop()
    dovecot.deliver(samples.with_attachment())
    (away,) = incoming_mail.poll_all(hub, open_mailbox)
    assert (away.filed, away.failed) == (0, 1)
    assert dovecot.count("INBOX") == 1  # left on the server
    clamd.start()
    assert _poll(hub).filed == 1
