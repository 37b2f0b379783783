"""Intake: a signed envelope from the portal becomes a stored, routed appeal — or a precise refusal.

The order of checks is the order of cost and of trust: size, hardened parsing, schema, the
portal's signature (after which only what it covers is read), the sender, the applicant's
identity, replay, attachments; then one transaction stores the raw bytes, the appeal, its
attachments, its routing and the mailbox message. Either all of that commits or none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from uuid import UUID, uuid4

import structlog
from psycopg import Connection
from psycopg.errors import UniqueViolation

from gateway.adapters import metrics
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import holds as holds_db
from gateway.adapters.xmlsec.envelope import read_message, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import certificate_cn, organisation_id
from gateway.domain.attachments import check_parts
from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.identity import check_identity
from gateway.domain.lifecycle import AppealState
from gateway.domain.model import Appeal, MessageHeader, PortalSender
from gateway.domain.routing import route
from gateway.service import attachments as stored_attachments
from gateway.service import push, screening
from gateway.service.hub import Hub
from gateway.service.mailbox import APPEAL_MESSAGE

log = structlog.get_logger(__name__)

MANUAL_ROUTING = "manual-routing"
ATTACHMENTS_POINTER = "/Message/Appeal/Attachments"


@dataclass(frozen=True, slots=True)
class IncomingAttachment:
    """An attachment part already spooled by the face, with its digest computed while it streamed."""

    content_id: str
    file: BinaryIO
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Receipt:
    appeal_id: UUID
    received_at: datetime
    agency_code: str | None
    duplicate: bool = False

    @property
    def routed_to(self) -> str:
        return self.agency_code or MANUAL_ROUTING


@dataclass(slots=True)
class IntakeContext:
    """What is known of the envelope so far, for the rejection record."""

    body_sha256: bytes | None = None
    body_size: int | None = None
    sender_id: str | None = None
    message_id: str | None = None


def accept(hub: Hub, raw: bytes, attachments: Mapping[str, IncomingAttachment] | None = None) -> Receipt:
    """Accept one pushed envelope; raises :class:`Rejection` (already recorded) if it is refused.

    Bytes the hub already accepted always get their first receipt, even when they would now be
    refused (a retry after the replay window, a certificate that expired since): the portal may
    retry blindly and must never see an accepted appeal turn into a rejection.
    """
    ctx = IntakeContext(body_sha256=hashlib.sha256(raw).digest(), body_size=len(raw))
    try:
        return _accept(hub, raw, attachments or {}, ctx)
    except Rejection as rejection:
        known = _known_receipt(hub, ctx.body_sha256)
        if known is not None:
            metrics.intake_accepted(duplicate=True)
            log.info(
                "appeal accepted", appeal_id=str(known.appeal_id), sender=ctx.sender_id,
                routed_to=known.routed_to, duplicate=True,
            )  # fmt: skip
            return known
        record_rejection(hub, rejection, ctx)
        raise


def _known_receipt(hub: Hub, body_sha256: bytes) -> Receipt | None:
    with hub.pool.connection() as conn:
        known = appeals_db.find_receipt_by_body(conn, body_sha256)
    if known is None:
        return None
    return Receipt(known["appeal_id"], known["received_at"], known["agency_code"], duplicate=True)


def _accept(
    hub: Hub, raw: bytes, attachments: Mapping[str, IncomingAttachment], ctx: IntakeContext
) -> Receipt:
    settings = hub.settings
    if len(raw) > settings.max_envelope_bytes:
        raise Rejection(Code.BODY_TOO_LARGE, f"the envelope exceeds {settings.max_envelope_bytes} bytes")
    root = parse_hardened(raw, max_depth=settings.max_xml_depth)
    validate(root, hub.envelope_schema)
    with metrics.verifying("envelope"):
        portal = hub.verifier.verify_portal(root)
        header, appeal = read_message(portal.signed_element)
        ctx.sender_id, ctx.message_id = header.sender_id, str(header.message_id)
        applicant = hub.verifier.verify_applicant(root)
    org_id = organisation_id(applicant.certificate) if applicant else None
    now = datetime.now(UTC)
    _check_fresh(header, now, settings.replay_window_seconds)
    check_parts(appeal.attachments, attachments, settings.max_attachment_bytes, ATTACHMENTS_POINTER)

    with hub.pool.connection() as conn:
        table = hub.routing_table(conn)
    sender = table.senders.get(header.sender_id)
    _check_sender(sender, certificate_cn(portal.certificate), header.sender_id)
    assert sender is not None
    check_identity(appeal, sender.jurisdiction, org_id)
    # Typed and scanned with no connection held, before anything is stored.
    held = screening.screen(
        settings, appeal.attachments, attachments, sender.jurisdiction, ATTACHMENTS_POINTER
    )

    with hub.pool.connection() as conn:
        agency_code = route(
            appeal.topic_code, appeal.territory_code, table.rules, appeal.addressee_code, table.agencies
        )
        appeal_id, mailbox_id = uuid4(), uuid4()
        register_by = clock_for(*table.clocks[agency_code]).register_by(now) if agency_code else None
        audit = [
            (
                "portal:" + header.sender_id,
                "received",
                {"message_id": str(header.message_id), "attachments": len(appeal.attachments)},
            ),
            ("hub", "routed", {"agency": agency_code, "mailbox_message": str(mailbox_id)})
            if agency_code
            else ("hub", "awaiting-manual-routing", {}),
        ]
        earlier = _earlier_appeals(conn, appeal, agency_code, now, settings.repeated_appeal_window_days)
        if earlier:
            audit.append(("hub", "linked-repeated", {"earlier_appeals": [e["appeal_id"] for e in earlier]}))
        if held:  # fail-open: stored and routed, kept from the agency until a scan passes
            audit.append(("hub", "held-for-scan", {"reason": Code.ANTIVIRUS_UNAVAILABLE.value}))
        # Without attachments the store is one statement, atomic on its own (the pool is in
        # autocommit mode); attachments and a push add statements, so they share a transaction.
        pushed = agency_code in table.push_agencies
        with conn.transaction() if appeal.attachments or pushed else contextlib.nullcontext():
            try:
                stored = appeals_db.store_new(
                    conn,
                    appeal_id=appeal_id,
                    header=header,
                    appeal=appeal,
                    state=AppealState.ROUTED if agency_code else AppealState.RECEIVED,
                    received_at=now,
                    register_by=register_by,
                    raw=raw,
                    body_sha256=ctx.body_sha256,
                    mailbox=(mailbox_id, agency_code, APPEAL_MESSAGE) if agency_code else None,
                    audit=audit,
                    earlier_appeals=earlier,
                    post=not held,
                )
            except UniqueViolation:
                stored = False  # a push with this message id committed first
            if not stored:
                raise _conflict(conn, header)
            for n, item in enumerate(appeal.attachments, start=1):
                digest = stored_attachments.store(conn, item, attachments[item.content_id])
                appeals_db.insert_attachment(
                    conn, appeal_id, n, item.content_id, item.file_name, item.media_type, item.size, digest
                )
            if held:
                holds_db.hold(conn, appeal_id, mailbox_id)
            elif pushed:
                push.enqueue(conn, mailbox_id)
    log.info(
        "appeal accepted", appeal_id=str(appeal_id), sender=header.sender_id,
        message_id=str(header.message_id), routed_to=agency_code or MANUAL_ROUTING,
        attachments=len(appeal.attachments), duplicate=False,
    )  # fmt: skip
    metrics.intake_accepted(duplicate=False)
    if held:
        metrics.held_appeal("held")
    return Receipt(appeal_id, now, agency_code)


def _earlier_appeals(
    conn: Connection, appeal: Appeal, agency_code: str | None, now: datetime, window_days: int
) -> list[dict]:
    """The applicant's earlier appeals this one may repeat (59-FZ art. 11 p.5): same identity, same
    topic code, same agency, within the window. Shown to the agency, which alone judges whether the
    question was answered on the merits; an appeal left to manual routing has no agency yet, so none.
    """
    if agency_code is None or window_days == 0:
        return []
    return appeals_db.earlier_appeals(conn, appeal, agency_code, now - timedelta(days=window_days))


def _conflict(conn: Connection, header: MessageHeader) -> Rejection:
    """Why a new appeal could not be stored. (Identical bytes never get here as an error: the
    caller answers them with the first receipt.)"""
    if appeals_db.find_inbound(conn, header.sender_id, header.message_id) is not None:
        return Rejection(
            Code.MESSAGE_ID_REUSED,
            "this message id was already used with different content",
            "/Message/MessageId",
        )
    return Rejection(
        Code.APPEAL_ALREADY_RECEIVED,
        "this sender already delivered an appeal with this portal appeal id",
        "/Message/Appeal/PortalAppealId",
    )


def _check_sender(sender: PortalSender | None, cert_cn: str | None, sender_id: str) -> None:
    if sender is None:
        raise Rejection(Code.SENDER_UNKNOWN, "the sender is not a registered portal", "/Message/SenderId")
    if cert_cn != sender.certificate_cn:
        raise Rejection(
            Code.SENDER_CERTIFICATE_MISMATCH,
            f"the signing certificate does not belong to sender {sender_id}",
            "/PortalSignature",
        )


def _check_fresh(header: MessageHeader, now: datetime, window_seconds: int) -> None:
    if abs(now - header.sent_at) > timedelta(seconds=window_seconds):
        raise Rejection(
            Code.SENT_AT_OUT_OF_WINDOW,
            f"SentAt is more than {window_seconds} s away from the hub's clock",
            "/Message/SentAt",
        )


def record_rejection(hub: Hub, rejection: Rejection, ctx: IntakeContext) -> None:
    """Record a refusal in its own transaction (the intake transaction, if any, rolled back).

    Faces call it too, for what they refuse before the envelope is whole (size, multipart).
    """
    try:
        with hub.pool.connection() as conn, conn.transaction():
            appeals_db.record_rejection(
                conn,
                code=rejection.code.value,
                pointer=rejection.pointer,
                detail=rejection.detail,
                sender_id=ctx.sender_id,
                message_id=ctx.message_id,
                body_sha256=ctx.body_sha256,
                body_size=ctx.body_size,
            )
    except Exception:
        log.exception("could not record an intake rejection", code=rejection.code.value)
    metrics.intake_rejected(rejection.code.value)
    # Never the detail: free text about the envelope (the record keeps it, for operators).
    log.info(
        "intake rejected", code=rejection.code.value, pointer=rejection.pointer,
        sender=ctx.sender_id, message_id=ctx.message_id,
    )  # fmt: skip
