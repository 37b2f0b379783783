"""E-mailed appeals: the poller files each message once into a moderation queue; operators
register one (it becomes an appeal with channel ``e-mail`` in the chosen agency's mailbox) or
reject it with a reason. Bad mail is quarantined with its reason and never stops the poller.

How an e-mailed appeal is stored: like a portal appeal, with the e-mail standing where the
portal's signed envelope stands. Its sender id is ``E-MAIL`` (no portal pushed it), its portal
appeal id ``e-mail:<queue id>``, its identity provider ``e-mail`` at assurance ``low`` (nobody
vouched for the sender), and the archive's raw bytes (``inbound_message.raw``, what an EDMS
receives as ``signed_xml_base64`` / ``SignedXml``) are the e-mail exactly as the mail server held
it (RFC 5322, ``message/rfc822``): the evidence the operator registered it from. Its attachments
are the appeal's attachments, downloaded as any other. From there routing, the legal clock
(counted from when the hub filed the e-mail: that is when the hub received it), the mailbox, push
and every event work unchanged.

Telling the sender: registration and rejection each leave one row in ``incoming_mail_reply``
(template, recipient, parameters) and queue it as an ``applicant-mail`` delivery, both in the
operator's transaction (``notifications.reply_to_sender``; migration 0017 says why a reply may be
an outbox row without an appeal). It is in Belarusian when the chosen agency keeps ``BY-300Z``,
or, for a rejection, when the mailbox is configured ``be``. The registration number and access
code reach the sender later, when the agency registers the appeal, as for any applicant who asked
for e-mail notifications (the appeal is stored with ``notification_channels = ["email"]``).
Auto-replies and bounces are never answered (RFC 3834: no replies to automatic mail, or two
robots loop).
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import psycopg
import structlog
from psycopg import Connection

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import blobs
from gateway.adapters.db import incoming_mail as mail_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.config import MailboxSettings
from gateway.domain import incoming_mail as mail
from gateway.domain.bounces import read_dsn
from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState
from gateway.domain.model import (
    Appeal,
    AppealKind,
    Applicant,
    ApplicantType,
    AssuranceLevel,
    AttachmentHeader,
    IdentityAssertion,
    MessageHeader,
    PersonName,
)
from gateway.domain.text import check
from gateway.service import notifications, push, screening
from gateway.service.hub import Hub
from gateway.service.mailbox import APPEAL_MESSAGE

log = structlog.get_logger(__name__)

EMAIL_SENDER = mail.EMAIL_SENDER
EMAIL_PROVIDER = "e-mail"
WAITING, REGISTERED, REJECTED, QUARANTINED = "waiting", "registered", "rejected", "quarantined"
STATES = (WAITING, REGISTERED, REJECTED, QUARANTINED)
REGISTERED_TEMPLATE = "mail-registered"
REJECTED_TEMPLATE = "mail-rejected"
MAX_COMMENT = 2000

# Why an e-mail is not registered (59-FZ art. 11 and 300-З art. 15 grounds, and the channel).
OTHER_REASON = "other"  # the one rejection reason that needs the operator's comment
REJECTION_REASONS = {
    "anonymous": "the sender is not named",
    "no-return-address": "no address to answer to",
    "not-an-appeal": "the message is not an appeal (advertising, a notice, an automatic message)",
    "channel-not-allowed": "e-mail is not a legal channel for appeals; file through the portal",
    OTHER_REASON: "another reason, in the comment",
}
TOPIC_CODE = r"^[0-9]{4}(\.[0-9]{4}){3,4}$"
TERRITORY_CODE = r"^([0-9]{8}|[0-9]{10}|[0-9]{11})$"


# --- the poller ------------------------------------------------------------------------------


class RemoteMailbox(Protocol):
    settings: MailboxSettings

    def listing(self) -> Iterable[Any]: ...
    def raw(self, uid: int) -> bytes | None: ...
    def move(self, uid: int, folder: str) -> None: ...


MailboxOpener = Callable[[MailboxSettings, float], AbstractContextManager[RemoteMailbox]]


@dataclass(slots=True)
class PollResult:
    mailbox: str
    filed: int = 0
    quarantined: int = 0
    already_filed: int = 0
    failed: int = 0  # not filed (the next poll tries again)
    not_moved: int = 0  # filed, but still in the polled folder (the next poll moves it)
    error: str | None = None
    skipped: bool = False  # another poller holds this mailbox right now

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


def limits(hub: Hub) -> mail.MailLimits:
    s = hub.settings
    return mail.MailLimits(max_message_bytes=s.mail_max_message_bytes, max_parts=s.mail_max_parts)


def poll_all(hub: Hub, opener: MailboxOpener, only: str | None = None) -> list[PollResult]:
    """Poll every configured mailbox (or the one named ``only``); one failing does not stop the rest."""
    boxes = [m for m in hub.settings.mail_mailboxes if only is None or m.name == only]
    if only is not None and not boxes:
        raise Rejection(Code.NOT_FOUND, f"no mailbox named {only} in GATEWAY_MAIL_MAILBOXES", "/mailbox")
    return [poll(hub, box, opener) for box in boxes]


def poll(hub: Hub, box: MailboxSettings, opener: MailboxOpener) -> PollResult:
    """File every message of one mailbox, then move it out of the polled folder.

    One poller per mailbox at a time, across hub nodes (a PostgreSQL advisory lock held for the
    poll); overlap would only cost work, since filing is idempotent, but two movers of one message
    make one of them fail. A message is filed before it is moved: a crash in between leaves it in
    the folder, and the next poll finds it filed and only moves it.
    """
    result = PollResult(box.name)
    with psycopg.connect(hub.database_url, autocommit=True) as lock_conn:
        key = "incoming-mail:" + box.name
        if not lock_conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
            result.skipped = True
            return result
        try:
            with opener(box, hub.settings.mail_timeout_seconds) as remote:
                for listed in remote.listing():
                    _take(hub, remote, listed, result)
        except Exception as exc:  # unreachable, TLS, login, the database away: the next poll retries
            result.error = type(exc).__name__
    log.info("mail polled", **result.as_dict())
    return result


def _take(hub: Hub, remote: RemoteMailbox, listed: Any, result: PollResult) -> None:
    """File (or quarantine) one message, then move it; an error costs this message a retry, no more."""
    box = remote.settings
    try:
        outcome = _file_one(hub, remote, listed)
    except Exception as exc:  # the next poll tries it again; the rest go on
        result.failed += 1
        log.warning("mail not filed", mailbox=box.name, uid=listed.uid, error=type(exc).__name__)
        return
    if outcome == "quarantined":
        result.quarantined += 1
    elif outcome == "filed":
        result.filed += 1
    else:
        result.already_filed += 1
    try:
        remote.move(listed.uid, box.quarantine_folder if outcome == "quarantined" else box.filed_folder)
    except Exception as exc:  # filed already: the next poll finds it filed and only moves it
        result.not_moved += 1
        log.warning("mail not moved", mailbox=box.name, uid=listed.uid, error=type(exc).__name__)


def _file_one(hub: Hub, remote: RemoteMailbox, listed: Any) -> str:
    box = remote.settings
    header_id = mail.normalise_message_id(_header_value(listed.message_id_header))
    if listed.size > hub.settings.mail_max_message_bytes:
        # Never fetched: the reason is all the queue keeps (and the Message-ID, so it is filed once).
        detail = f"{listed.size} bytes, over {hub.settings.mail_max_message_bytes}"
        row = _quarantine_row(box.name, header_id, None, listed.size, mail.QuarantineReason.OVERSIZE, detail)
        return _store(hub, row, b"", [])
    raw = remote.raw(listed.uid)
    if raw is None:
        raise LookupError("the message disappeared from the server")
    digest = hashlib.sha256(raw).digest()
    try:
        parsed = mail.parse(raw, limits(hub))
    except mail.Quarantined as bad:
        row = _quarantine_row(box.name, header_id, digest, len(raw), bad.reason, bad.detail)
        return _store(hub, row, raw, [])
    except Exception as exc:
        row = _quarantine_row(
            box.name, header_id, digest, len(raw), mail.QuarantineReason.MALFORMED_MIME, type(exc).__name__
        )
        return _store(hub, row, raw, [])
    # Scanned whole before anything of it can become an appeal (clamd away: the message stays on the
    # server, the next poll tries again); infected mail is quarantined for operators, never filed.
    signature = screening.infection(hub.settings, raw)
    if signature is not None:
        row = _quarantine_row(
            box.name, header_id, digest, len(raw), mail.QuarantineReason.INFECTED, signature
        )
        return _store(hub, row, raw, [])
    row = {
        "id": uuid4(), "mailbox": box.name, "message_id": parsed.message_id or header_id,
        "raw_sha256": digest, "size": len(raw), "state": WAITING, "labels": [str(x) for x in parsed.labels],
        "quarantine_reason": None, "quarantine_detail": None, "sender": parsed.sender,
        "sender_name": parsed.sender_name, "subject": parsed.subject, "sent_at": parsed.sent_at,
        "text": parsed.text, "headers": [list(h) for h in parsed.headers],
        "attachments": [
            {"n": n, "file_name": a.file_name, "media_type": a.media_type, "size": a.size,
             "sha256": a.sha256.hex()}
            for n, a in enumerate(parsed.attachments, start=1)
        ],
    }  # fmt: skip
    outcome = _store(hub, row, raw, parsed.attachments)
    if outcome == "filed" and mail.Label.BOUNCE in parsed.labels:
        _settle_bounce(hub, raw)
    return outcome


def _settle_bounce(hub: Hub, raw: bytes) -> None:
    """A bounce that came back to a polled mailbox settles the e-mail it reports on: the delivery
    goes dead with the bounce's status, for operators, and is not retried (``record_bounce``). The
    DSN itself stays filed, labelled, where operators see it. Read once: a message is filed once."""
    bounce = read_dsn(raw)
    if bounce is None:
        return
    outcome = notifications.record_bounce(hub, bounce.message_id, bounce.action, bounce.status)
    log.info("bounce read", outcome=outcome, action=bounce.action, status=bounce.status)


def _header_value(raw_header: bytes) -> str | None:
    """``Message-ID: <…>`` as fetched by HEADER.FIELDS, or None."""
    text = raw_header.decode("ascii", "replace")
    _, sep, value = text.partition(":")
    return value.strip() if sep else None


def _quarantine_row(
    mailbox: str, message_id: str | None, digest: bytes | None, size: int, reason: str, detail: str
) -> dict[str, Any]:
    return {
        "id": uuid4(), "mailbox": mailbox, "message_id": message_id, "raw_sha256": digest, "size": size,
        "state": QUARANTINED, "labels": [], "quarantine_reason": str(reason), "quarantine_detail": detail,
        "sender": None, "sender_name": None, "subject": None, "sent_at": None, "text": None,
        "headers": [], "attachments": [],
    }  # fmt: skip


def _store(hub: Hub, row: dict[str, Any], raw: bytes, attachments: Iterable[mail.MailAttachment]) -> str:
    """One transaction: the raw bytes and attachments into the blob store, the queue row; or nothing
    when the message (its bytes, or its Message-ID) is already filed."""
    with hub.pool.connection() as conn, conn.transaction():
        if mail_db.is_filed(conn, row["raw_sha256"], row["message_id"]):
            return "already-filed"
        if row["raw_sha256"] is not None:
            blobs.put(conn, row["raw_sha256"], len(raw), io.BytesIO(raw))
        for a in attachments:
            blobs.put(conn, a.sha256, a.size, io.BytesIO(a.content))
        if not mail_db.file(conn, row):
            return "already-filed"
    if row["state"] == QUARANTINED:
        # The reason and sizes only: the detail names no content (see the domain module).
        log.warning(
            "mail quarantined", mailbox=row["mailbox"], incoming_mail=str(row["id"]),
            reason=row["quarantine_reason"], detail=row["quarantine_detail"], size=row["size"],
        )  # fmt: skip
        return "quarantined"
    log.info(
        "mail filed", mailbox=row["mailbox"], incoming_mail=str(row["id"]), size=row["size"],
        labels=row["labels"], attachments=len(row["attachments"]),
    )  # fmt: skip
    return "filed"


@dataclass
class PeriodicPoller:
    """Polls every ``mail_poll_seconds`` in a thread of the relay process until ``stop`` is set."""

    hub: Hub
    opener: MailboxOpener
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        every = self.hub.settings.mail_poll_seconds
        while not self.stop.is_set():
            try:
                poll_all(self.hub, self.opener)
            except Exception as exc:
                log.warning("mail poll failed", error=type(exc).__name__)
            self.stop.wait(every)


# --- moderation ------------------------------------------------------------------------------


def queue(hub: Hub, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The queue, oldest first: waiting and quarantined messages unless ``state`` names one."""
    if state is not None and state not in STATES:
        raise Rejection(Code.INVALID_REQUEST, f"state must be one of {', '.join(STATES)}", "/state")
    if not 1 <= limit <= 1000:
        raise Rejection(Code.INVALID_REQUEST, "limit must be 1 to 1000", "/limit")
    states = [state] if state else [WAITING, QUARANTINED]
    return db_read(hub.pool, lambda conn: mail_db.listing(conn, states, limit))


def show(hub: Hub, mail_id: UUID) -> dict[str, Any]:
    """One message as an operator judges it: headers, text, attachments, labels, the decision."""
    row = db_read(hub.pool, lambda conn: mail_db.get(conn, mail_id))
    if row is None:
        raise Rejection(Code.NOT_FOUND, "no such message in the moderation queue", "/id")
    return row


@dataclass(frozen=True, slots=True)
class Registration:
    agency_code: str
    topic_code: str
    territory_code: str
    kind: str = AppealKind.STATEMENT.value


def register(hub: Hub, operator: str, mail_id: UUID, reg: Registration) -> UUID:
    """Make a waiting e-mail an appeal in ``reg.agency_code``'s mailbox, in one transaction."""
    _check_registration(reg)
    with hub.pool.connection() as conn, conn.transaction():
        row = _waiting(conn, mail_id)
        agency = agencies_db.get_agency(conn, reg.agency_code)
        if agency is None:
            raise Rejection(
                Code.AGENCY_UNKNOWN, f"no agency {reg.agency_code} in the registry", "/agency_code"
            )
        appeal_id, mailbox_id = uuid4(), uuid4()
        filed_at: datetime = row["filed_at"]
        register_by = clock_for(agency.jurisdiction_profile, agency.timezone).register_by(filed_at)
        raw = b"".join(blobs.iter_chunks(conn, bytes(row["raw_sha256"])))
        appeals_db.store_new(
            conn,
            appeal_id=appeal_id,
            header=MessageHeader(mail_id, row["sent_at"] or filed_at, EMAIL_SENDER),
            appeal=_appeal(row, reg),
            state=AppealState.ROUTED,
            received_at=filed_at,
            register_by=register_by,
            raw=raw,
            body_sha256=bytes(row["raw_sha256"]),
            mailbox=(mailbox_id, reg.agency_code, APPEAL_MESSAGE),
            audit=[
                ("mail:" + row["mailbox"], "received", {"channel": "e-mail", "incoming_mail": str(mail_id)}),
                (operator, "routed", {"agency": reg.agency_code, "mailbox_message": str(mailbox_id),
                                      "by": "operator", "from": "moderation"}),
            ],
        )  # fmt: skip
        for a in row["attachments"]:
            appeals_db.insert_attachment(
                conn, appeal_id, a["n"], f"part-{a['n']}", a["file_name"], a["media_type"], a["size"],
                bytes.fromhex(a["sha256"]),
            )  # fmt: skip
        if reg.agency_code in hub.routing_table(conn).push_agencies:
            push.enqueue(conn, mailbox_id)
        mail_db.decide(conn, mail_id, state=REGISTERED, operator=operator, appeal_id=appeal_id)
        if _answerable(row):
            params = {
                "agency_code": agency.code,
                "agency_name": agency.name,
                "appeal_id": str(appeal_id),
                "subject": row["subject"],
                "jurisdiction_profile": str(agency.jurisdiction_profile),
            }
            language = notifications.language(agency.jurisdiction_profile)
            _owe_reply(hub, conn, row, appeal_id, REGISTERED_TEMPLATE, params, language)
    log.info("mail registered", incoming_mail=str(mail_id), appeal_id=str(appeal_id), agency=reg.agency_code)
    return appeal_id


def reject(hub: Hub, operator: str, mail_id: UUID, reason: str, comment: str | None = None) -> None:
    """Reject a waiting e-mail with a reason from the list (``other`` needs a comment)."""
    if reason not in REJECTION_REASONS:
        raise Rejection(
            Code.INVALID_REQUEST, f"reason must be one of {', '.join(REJECTION_REASONS)}", "/reason"
        )
    comment = check(comment.strip(), "/comment", MAX_COMMENT) if comment and comment.strip() else None
    if reason == OTHER_REASON and comment is None:
        raise Rejection(Code.INVALID_REQUEST, "reason `other` needs a comment", "/comment")
    with hub.pool.connection() as conn, conn.transaction():
        row = _waiting(conn, mail_id)
        mail_db.decide(conn, mail_id, state=REJECTED, operator=operator, reason=reason, comment=comment)
        append_audit(conn, None, operator, "mail-rejected", {"incoming_mail": str(mail_id), "reason": reason})
        if _answerable(row) and reason != "no-return-address":
            file_instead = hub.settings.mail_file_instead if reason == "channel-not-allowed" else None
            params = {"reason": reason, "comment": comment, "subject": row["subject"],
                      "file_instead": file_instead}  # fmt: skip
            _owe_reply(hub, conn, row, None, REJECTED_TEMPLATE, params, _mailbox_language(hub, row))
    log.info("mail rejected", incoming_mail=str(mail_id), reason=reason)


def _owe_reply(
    hub: Hub,
    conn: Connection,
    row: dict[str, Any],
    appeal_id: UUID | None,
    template: str,
    params: dict[str, Any],
    language: str,
) -> None:
    """Record the reply owed to the sender and queue it for the SMTP connector (when configured)."""
    mail_db.owe_reply(conn, row["id"], template, row["sender"], params)
    reply = {"template": template, "recipient": row["sender"], "params": params, "language": language,
             "in_reply_to": row["message_id"]}  # fmt: skip
    notifications.reply_to_sender(conn, hub.settings, row["id"], appeal_id, reply)


def _mailbox_language(hub: Hub, row: dict[str, Any]) -> str:
    """The language configured for the mailbox the e-mail came to (a rejection names no agency)."""
    box = next((m for m in hub.settings.mail_mailboxes if m.name == row["mailbox"]), None)
    return box.language if box is not None else "ru"


def _waiting(conn: Connection, mail_id: UUID) -> dict[str, Any]:
    row = mail_db.get(conn, mail_id, lock=True)
    if row is None:
        raise Rejection(Code.NOT_FOUND, "no such message in the moderation queue", "/id")
    if row["state"] != WAITING:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"the message is {row['state']}, not waiting", "/id")
    return row


def _answerable(row: dict[str, Any]) -> bool:
    """A sender to answer, and not a robot (RFC 3834: never answer automatic mail)."""
    labels = set(row["labels"] or [])
    return bool(row["sender"]) and not labels & {mail.Label.AUTO_REPLY, mail.Label.BOUNCE}


def _check_registration(reg: Registration) -> None:
    if not re.match(TOPIC_CODE, reg.topic_code or ""):
        raise Rejection(Code.INVALID_REQUEST, "topic_code must be 0000.0000.0000.0000[.0000]", "/topic_code")
    if not re.match(TERRITORY_CODE, reg.territory_code or ""):
        raise Rejection(
            Code.INVALID_REQUEST,
            "territory_code must be an OKTMO (8 or 11 digits) or SOATO (10)",
            "/territory_code",
        )
    if reg.kind not in {k.value for k in AppealKind}:
        raise Rejection(Code.INVALID_REQUEST, "kind must be proposal, statement or complaint", "/kind")


def _appeal(row: dict[str, Any], reg: Registration) -> Appeal:
    """The appeal as agencies receive it, from what the e-mail says (nothing is invented)."""
    names = (row["sender_name"] or "").split()
    person = PersonName(
        last_name=names[0] if names else "",
        first_name=names[1] if len(names) > 1 else "",
        middle_name=" ".join(names[2:]) or None,
    )
    sender = row["sender"]
    return Appeal(
        portal_appeal_id=f"e-mail:{row['id']}",
        kind=AppealKind(reg.kind),
        applicant=Applicant(type=ApplicantType.INDIVIDUAL, person=person, email=sender),
        identity=IdentityAssertion(
            provider=EMAIL_PROVIDER,  # type: ignore[arg-type] (the hub's own value, not a portal's)
            subject_id=sender or "",
            assurance_level=AssuranceLevel.LOW,
        ),
        topic_code=reg.topic_code,
        territory_code=reg.territory_code,
        subject=row["subject"] or "",
        text=row["text"] or "",
        reply_preference="email" if sender else "post",
        notification_channels=("email",) if sender else (),
        consent=False,
        addressee_code=reg.agency_code,
        attachments=tuple(
            AttachmentHeader(f"part-{a['n']}", a["file_name"], a["media_type"], a["size"], a["sha256"])
            for a in row["attachments"]
        ),
    )
