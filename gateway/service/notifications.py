"""Notifications to the applicant outside the cabinet: one message per lifecycle event and channel.

The envelope's ``Notifications`` lists the channels the applicant asked for (cabinet, email, sms).
The cabinet gets every event through ``cabinet_updates``; the other channels get the events the
applicant must hear of (59-FZ art. 8 and 12: registration, redirect, extension; then the outcome),
written to the outbox beside the cabinet update, in the event's own transaction, so a notification
is queued exactly when its event is recorded and never without it.

Not notified: ``assigned`` (an internal step whose only fact, the executor, is not public) and the
applicant's own ``withdrawn`` (they did it in the cabinet, which confirmed it there and then).

Each channel is a row of :data:`CHANNELS`; a channel is on when the hub has its transport
configured, so a hub without SMTP queues no e-mail that could only go dead. The idempotency key is
``<connector>:<appeal>:<seq>``: one message per event and channel, whatever repeats the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import structlog
from psycopg import Connection

from gateway.adapters.db import notifications as notifications_db
from gateway.adapters.db import outbox as outbox_db
from gateway.adapters.db.audit import append_audit
from gateway.config import Settings
from gateway.domain.events import EventType
from gateway.domain.lifecycle import AppealState
from gateway.domain.mail_ids import delivery_of
from gateway.domain.model import JurisdictionProfile
from gateway.service.cabinet_updates import CABINET, event_facts
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)

APPLICANT_MAIL = "applicant-mail"
APPLICANT_SMS = "applicant-sms"  # connectors.mail.sms names it so too

NOTIFIED_EVENTS = frozenset(
    {
        EventType.REGISTERED,
        EventType.REDIRECTED,
        EventType.EXTENDED,
        EventType.ANSWERED,
        EventType.DECLINED,
        EventType.CLOSED,
    }
)
LOOKUP_PATH = "/public/v1/status"
BOUNCE_ACTOR = "mail:bounce"  # who the audit names for a bounce: the returning DSN


@dataclass(frozen=True, slots=True)
class Channel:
    """One way of reaching the applicant besides the cabinet."""

    name: str  # as the envelope's Notifications/Channel names it
    connector: str  # the outbox connector that carries it
    contact: str  # the applicant's field it goes to (``applicant_contacts`` column)
    enabled: Callable[[Settings], bool]  # the hub has the transport configured
    events: frozenset[str] = NOTIFIED_EVENTS
    answers: bool = False  # carries the answer itself to an applicant whose ReplyPreference names it


EMAIL = Channel("email", APPLICANT_MAIL, "email", lambda s: bool(s.smtp_host), answers=True)
CHANNELS: tuple[Channel, ...] = (
    EMAIL,
    Channel("sms", APPLICANT_SMS, "phone", lambda s: bool(s.smpp_host)),
)
CONNECTORS = tuple(c.connector for c in CHANNELS)
"""Every notification connector, for the operators' views and metrics."""


def tell_the_applicant(
    conn: Connection,
    settings: Settings,
    appeal_id: UUID,
    event: dict[str, Any],
    state: AppealState,
    details: dict[str, Any],
    for_applicant: dict[str, Any],
) -> int:
    """Queue the notifications of ``event`` (the appended ``appeal_event`` row) on every channel the
    applicant asked for and the hub has; returns how many were queued.

    Call it after ``tell_the_cabinet``: the access code of an earlier event is read from the
    cabinet's updates (or, for an appeal no cabinet knows, from earlier notifications). Nothing of
    the answer's text is queued here: an applicant who wants the answer by e-mail gets its signed
    document and attachments, named by digest and read at delivery.
    """
    channels = [c for c in CHANNELS if event["type"] in c.events and c.enabled(settings)]
    if not channels:
        return 0
    contacts = notifications_db.applicant_contacts(conn, appeal_id)
    wanted = [
        c
        for c in channels
        if contacts[c.contact]
        and (c.name in contacts["channels"] or _brings_the_answer(c, contacts, for_applicant))
    ]
    if not wanted:
        return 0
    # An earlier event's code is repeated by the cabinet's updates, or (an e-mailed appeal has no
    # cabinet) by the notifications that carried it.
    code = (
        for_applicant.get("access_code")
        or outbox_db.owed_to_applicant(conn, appeal_id, (CABINET, *CONNECTORS))["access_code"]
    )
    common = event_facts(conn, appeal_id, event, state, details)
    common["language"] = language(contacts["jurisdiction_profile"])
    common["lookup_url"] = lookup_url(settings.public_url, common["appeal"], code)
    if code is not None:
        common["access_code"] = code
    for channel in wanted:
        payload = {**common, "to": contacts[channel.contact]}
        if _brings_the_answer(channel, contacts, for_applicant):
            payload.update(_the_answer(for_applicant, settings.mail_max_attachment_bytes))
        key = f"{channel.connector}:{appeal_id}:{event['seq']}"
        outbox_db.enqueue(conn, channel.connector, appeal_id, event["seq"], key, payload)
    return len(wanted)


REPLY_TYPES = ("mail-registered", "mail-rejected")  # connectors/mail/templates name them so too


def reply_to_sender(
    conn: Connection,
    settings: Settings,
    incoming_mail_id: UUID,
    appeal_id: UUID | None,
    reply: dict[str, Any],
) -> bool:
    """Queue the reply moderation owes an e-mail's sender (``reply``: the ``incoming_mail_reply``
    row's template, recipient and params, plus ``language`` and the sender's ``in_reply_to``
    Message-ID) as an ``applicant-mail`` delivery, in the operator's transaction; False (nothing
    queued, the reply stays recorded as owed) when the hub has no SMTP server.

    The same connector as the notifications, on purpose: the same server, retries, replay, views,
    metrics, and a bounce of the reply is matched like any other (migration 0017 says why the row
    may have no appeal)."""
    if not EMAIL.enabled(settings) or reply["template"] not in REPLY_TYPES:
        return False
    payload = {
        "type": reply["template"],
        "language": reply["language"],
        "to": reply["recipient"],
        "in_reply_to": reply.get("in_reply_to"),
        **reply["params"],
    }
    key = f"{APPLICANT_MAIL}:reply:{incoming_mail_id}"
    outbox_db.enqueue_reply(conn, APPLICANT_MAIL, incoming_mail_id, appeal_id, key, payload)
    return True


def _brings_the_answer(channel: Channel, contacts: dict[str, Any], for_applicant: dict[str, Any]) -> bool:
    """The event is the answer and the applicant wants it on this channel (ReplyPreference), whether
    or not they also asked for notices on it."""
    return channel.answers and contacts["reply_preference"] == channel.name and "answer" in for_applicant


def _the_answer(for_applicant: dict[str, Any], max_attachment_bytes: int) -> dict[str, Any]:
    """What the answer's e-mail carries for ReplyPreference=email: the answer's facts, and its
    signed document and attachments named by digest (the delivery reads them from the blob store
    when it sends, as it does for the cabinet). Attachments larger together than the mail limit
    stay in the cabinet; the signed answer always goes."""
    answer = for_applicant["answer"]
    documents = dict(for_applicant["documents"])
    attachments = answer.get("attachments") or []
    fits = sum(a["size"] for a in attachments) <= max_attachment_bytes
    if fits:
        documents.update({f"attachment:{a['content_id']}": a["sha256"] for a in attachments})
    return {"answer": answer, "documents": documents, "reply_by_email": True, "attachments_attached": fits}


def language(jurisdiction_profile: str | None) -> str:
    """Belarusian for an appeal with a Belarusian agency (Law 300-З: both state languages), else
    Russian."""
    return "be" if jurisdiction_profile == JurisdictionProfile.BY_300Z else "ru"


def lookup_url(public_url: str | None, appeal: dict[str, Any], code: str | None) -> str | None:
    """The public status lookup of this appeal, by the first number it was registered under (the
    one the applicant was told; it keeps answering after a redirect) and its access code; None
    until both exist or when the hub's public URL is not configured. The hub's logs cut query
    strings, so the code in it is not written anywhere by the hub."""
    registrations = appeal.get("registrations") or []
    if not (public_url and registrations and code):
        return None
    query = urlencode({"number": registrations[0]["registration_number"], "code": code})
    return f"{public_url.rstrip('/')}{LOOKUP_PATH}?{query}"


def record_bounce(hub: Hub, message_id: str, action: str, status: str) -> str:
    """Record a bounce (read from a DSN by ``gateway.domain.bounces.read_dsn``) on the e-mail it
    names: the delivery goes dead with ``bounced <status>``, audited on its appeal. Returns
    ``recorded``; ``ignored`` for a report that is no failure (``delayed``: the server still
    tries); ``unmatched`` for a Message-ID that is none of ours; ``repeated`` when the delivery
    is not delivered (an earlier copy of the bounce was recorded)."""
    if action != "failed":
        return "ignored"
    error = f"bounced {status}"
    with hub.pool.connection() as conn, conn.transaction():
        outbox_id = delivery_of(
            message_id, lambda i: notifications_db.idempotency_key(conn, i, APPLICANT_MAIL)
        )
        if outbox_id is None:
            outcome, row = "unmatched", None
        else:
            row = notifications_db.record_bounce(conn, outbox_id, error)
            outcome = "recorded" if row is not None else "repeated"
        if row is not None:
            details = {
                "outbox_id": row["id"],
                "connector": row["connector"],
                "seq": row["seq"],
                "status": status,
            }
            append_audit(conn, row["appeal_id"], BOUNCE_ACTOR, "delivery-bounced", details)
    log.info(
        "bounce read", outcome=outcome, outbox_id=outbox_id, status=status,
        appeal_id=str(row["appeal_id"]) if row else None,
    )  # fmt: skip
    return outcome
