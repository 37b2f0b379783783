"""Per-agency mailboxes: lease, acknowledge (or refuse), and queue statistics.

Written once for every face: the REST and SOAP faces translate their wire formats into these
calls and back. The agency code always comes from authentication, never from the request, so
an agency can reach only its own messages; another agency's message is "not found".

The lease rule (docs/edms-rest.md, "Leases: which token takes a message"): the token of a message's
**latest** lease acknowledges or refuses it until another pull leases the message again or an
operator releases it; from then on that token is ``lease-invalid`` and only the new lease's
token counts. Expiry alone does not void the token: an EDMS that registered the appeal and acks
a moment after ``lease_expires_at`` takes it, instead of having it delivered twice and filed as
a duplicate. Expiry only makes the message pending again, so a crashed EDMS loses nothing.

Why this rule and not "valid until expiry": an SQS standard queue deletes a message with the
receipt handle of its most recent receive, after the visibility timeout too, as long as nobody
received it again (FIFO queues refuse an expired handle); SMEV 3 takes an ``Ack`` by message id
alone. Both spare the duplicate; refusing the late ack would only create one. What must never
happen is two holders taking one message, and the rule excludes it: a pull and an ack decide
under the same row lock (``adapters/db/mailbox.py``), so when a re-lease and an ack with the
previous token race, exactly one wins. There is no lease extension to rule on: an EDMS that
needs more time asks for a longer ``lease_seconds`` when it pulls.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec
import structlog
from psycopg import Connection

from gateway.adapters import metrics
from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db import monitoring as monitoring_db
from gateway.adapters.db.audit import append_audit
from gateway.adapters.db.outage import read as db_read
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import Transition, sources, target
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)

APPEAL_MESSAGE = "appeal"
# Notices about an appeal already in the mailbox: the applicant withdrew it, or rated its answer.
WITHDRAWAL_NOTICE = "withdrawal"
FEEDBACK_NOTICE = "feedback"
MAX_REFUSAL_REASON = 2000
# Where an agency fetches an attachment's bytes, named in each leased message (the REST face
# serves it; SOAP's GetAttachment takes the same appeal id and number).
ATTACHMENT_HREF = "/sed/v1/appeals/{appeal_id}/attachments/{n}"


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    n: int
    file_name: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class LeasedMessage:
    """One leased message: the appeal as data and as the portal's signed bytes, verbatim.

    A notice (``kind`` other than ``appeal``) carries the appeal too, so an EDMS that never took
    the appeal can still file it, and ``notice`` says what happened (its members depend on kind).
    """

    message_id: UUID
    kind: str
    appeal_id: UUID
    lease_token: UUID
    lease_expires_at: datetime
    delivery_count: int
    received_at: datetime
    appeal: dict[str, Any]
    signed_xml: bytes
    attachments: tuple[AttachmentRef, ...]
    notice: dict[str, Any] | None = None

    @property
    def withdrawal(self) -> dict[str, Any] | None:
        """A withdrawal notice: ``seq``, ``withdrawn_at`` and the applicant's ``reason`` if given."""
        return self._notice(WITHDRAWAL_NOTICE)

    @property
    def feedback(self) -> dict[str, Any] | None:
        """A feedback notice: ``rating`` (1–5), ``comment`` if given, and ``given_at``."""
        return self._notice(FEEDBACK_NOTICE)

    def _notice(self, kind: str) -> dict[str, Any] | None:
        if self.kind != kind or self.notice is None:
            return None
        return {k: v for k, v in self.notice.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Ack:
    message_id: UUID
    lease_token: UUID
    accepted: bool = True
    reason: str | None = None


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # taken (again, if it was already: acks are idempotent)
    REFUSED = "refused"  # the EDMS's refusal is recorded and raised to operators
    LEASE_INVALID = "lease-invalid"  # the token is not the message's latest lease (see above)
    NOT_FOUND = "not-found"  # no such message in this agency's mailbox


@dataclass(frozen=True, slots=True)
class AckResult:
    message_id: UUID
    outcome: AckOutcome


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    pending: int
    leased: int
    refused: int
    oldest_pending_age_s: float


def lease(hub: Hub, agency_code: str, limit: int, lease_seconds: int | None = None) -> list[LeasedMessage]:
    """Lease up to ``limit`` of the agency's pending messages, oldest first."""
    documents = lease_documents(hub, agency_code, limit, lease_seconds)
    return [leased_message(document) for document in documents]


def lease_documents(hub: Hub, agency_code: str, limit: int, lease_seconds: int | None = None) -> list[bytes]:
    """:func:`lease`, each message as the JSON document an EDMS receives (``docs/edms-rest.md``,
    UTF-8): what the faces send, so the hub passes PostgreSQL's documents on instead of decoding
    and encoding every message (``adapters/db/mailbox.py``)."""
    settings = hub.settings
    if not 1 <= limit <= settings.max_pull_batch:
        raise Rejection(Code.INVALID_REQUEST, f"limit must be 1 to {settings.max_pull_batch}", "/limit")
    seconds = settings.lease_seconds if lease_seconds is None else lease_seconds
    if not 1 <= seconds <= settings.max_lease_seconds:
        raise Rejection(
            Code.INVALID_REQUEST, f"lease_seconds must be 1 to {settings.max_lease_seconds}", "/lease_seconds"
        )
    started = time.perf_counter()
    with hub.pool.connection() as conn:
        documents = mailbox_db.lease(
            conn,
            agency_code,
            limit,
            seconds,
            actor="agency:" + agency_code,
            first_delivery=(sources(Transition.LEASE), target(Transition.LEASE)),
            attachment_href=ATTACHMENT_HREF,
        )
        monitoring_db.touch_pull(conn, agency_code)
    metrics.pulled(agency_code, len(documents), time.perf_counter() - started)
    # An empty poll is only an access line, unless debugging: EDMS poll all day.
    (log.info if documents else log.debug)("mailbox leased", agency=agency_code, count=len(documents))
    return documents


def leased_message(document: bytes) -> LeasedMessage:
    """One of :func:`lease_documents`' documents as the service's own value."""
    message = msgspec.json.decode(document)
    kind = message["kind"]
    return LeasedMessage(
        message_id=UUID(message["message_id"]),
        kind=kind,
        appeal_id=UUID(message["appeal_id"]),
        lease_token=UUID(message["lease_token"]),
        lease_expires_at=datetime.fromisoformat(message["lease_expires_at"]),
        delivery_count=message["delivery_count"],
        received_at=datetime.fromisoformat(message["received_at"]),
        appeal=message["appeal"],
        signed_xml=base64.b64decode(message["signed_xml_base64"]),
        attachments=tuple(
            AttachmentRef(a["n"], a["file_name"], a["media_type"], a["size"], a["sha256"])
            for a in message["attachments"]
        ),
        notice=message.get(kind),
    )


def acknowledge(hub: Hub, agency_code: str, acks: Sequence[Ack]) -> list[AckResult]:
    """Apply a batch of acknowledgements in one transaction; each gets its own outcome."""
    settings = hub.settings
    if not 1 <= len(acks) <= settings.max_pull_batch:
        raise Rejection(Code.INVALID_REQUEST, f"send 1 to {settings.max_pull_batch} acks", "/acks")
    for i, ack in enumerate(acks):
        if not ack.accepted and not (ack.reason and ack.reason.strip()):
            raise Rejection(Code.INVALID_REQUEST, "a refusal needs a reason", f"/acks/{i}/reason")
        if ack.reason and len(ack.reason) > MAX_REFUSAL_REASON:
            raise Rejection(
                Code.INVALID_REQUEST,
                f"reason is limited to {MAX_REFUSAL_REASON} characters",
                f"/acks/{i}/reason",
            )
    actor = "agency:" + agency_code
    outcomes: dict[UUID, AckOutcome] = {}
    refusals = [a for a in acks if not a.accepted]
    started = time.perf_counter()
    with hub.pool.connection() as conn:
        # All accepted (the usual case): one statement, atomic on its own.
        with conn.transaction() if refusals else contextlib.nullcontext():
            taken = mailbox_db.acknowledge(
                conn,
                agency_code,
                [(a.message_id, a.lease_token) for a in acks if a.accepted],
                actor=actor,
                taken=(sources(Transition.ACKNOWLEDGE), target(Transition.ACKNOWLEDGE)),
            )
            outcomes.update((message_id, AckOutcome.ACKNOWLEDGED) for message_id in taken)
            for ack in refusals:
                row = mailbox_db.refuse(conn, agency_code, ack.message_id, ack.lease_token, ack.reason or "")
                if row is not None:
                    outcomes[ack.message_id] = AckOutcome.REFUSED
                    mailbox_message = {"mailbox_message": str(row["id"])}
                    append_audit(conn, row["appeal_id"], actor, "refused-by-edms", mailbox_message)
        monitoring_db.touch_ack(conn, agency_code)
        unresolved = [a for a in acks if a.message_id not in outcomes]
        if unresolved:
            known = mailbox_db.find(conn, agency_code, [a.message_id for a in unresolved])
            for ack in unresolved:
                outcomes[ack.message_id] = _why_not(ack, known.get(ack.message_id))
    metrics.acknowledged(agency_code, [o.value for o in outcomes.values()], time.perf_counter() - started)
    log.info("mailbox acknowledged", agency=agency_code, outcomes=dict(Counter(outcomes.values())))
    return [AckResult(a.message_id, outcomes[a.message_id]) for a in acks]


def _why_not(ack: Ack, row: dict[str, Any] | None) -> AckOutcome:
    if row is None:
        return AckOutcome.NOT_FOUND
    same_lease = row["lease_token"] == ack.lease_token
    if same_lease and ack.accepted and row["acked_at"] is not None:
        return AckOutcome.ACKNOWLEDGED
    if same_lease and not ack.accepted and row["refused_at"] is not None:
        return AckOutcome.REFUSED
    return AckOutcome.LEASE_INVALID


def acknowledge_one(hub: Hub, agency_code: str, ack: Ack) -> AckResult:
    """One acknowledgement; a stale lease or an unknown message is a rejection, not a result."""
    (result,) = acknowledge(hub, agency_code, [ack])
    if result.outcome is AckOutcome.NOT_FOUND:
        raise Rejection(Code.NOT_FOUND, "no such message in this agency's mailbox", "/message_id")
    if result.outcome is AckOutcome.LEASE_INVALID:
        raise Rejection(
            Code.LEASE_INVALID,
            "the lease token is not this message's latest lease (the message was leased again or "
            "released by an operator since, or it was already settled otherwise)",
            "/lease_token",
        )
    return result


def statistics(hub: Hub, agency_code: str) -> QueueStatistics:
    return QueueStatistics(**db_read(hub.pool, lambda conn: mailbox_db.statistics(conn, agency_code)))


# --- operators' hands on a mailbox ------------------------------------------------------------


def release_lease(hub: Hub, operator: str, message_id: UUID) -> UUID:
    """Make a leased message pending again now (an EDMS that crashed holding a long lease).

    The lease token stops working, so the old holder cannot acknowledge what someone else may take.
    """
    return _operator_fix(hub, operator, message_id, monitoring_db.release_lease, "leased", "lease-released")


def requeue_refused(hub: Hub, operator: str, message_id: UUID) -> UUID:
    """Offer a message the EDMS refused again, after the cause was fixed (on either side)."""
    return _operator_fix(hub, operator, message_id, monitoring_db.requeue_refused, "refused", "requeued")


def _operator_fix(
    hub: Hub,
    operator: str,
    message_id: UUID,
    fix: Callable[[Connection, UUID], dict[str, Any] | None],
    wanted: str,
    action: str,
) -> UUID:
    """Apply ``fix`` to a message that is ``wanted`` (else say what it is), audited as ``action``."""
    with hub.pool.connection() as conn, conn.transaction():
        row = fix(conn, message_id)
        if row is None:
            raise _not_in_state(conn, message_id, wanted)
        details = {"mailbox_message": str(message_id), "agency": row["agency_code"]}
        append_audit(conn, row["appeal_id"], operator, action, details)
    return row["appeal_id"]


def _not_in_state(conn: Connection, message_id: UUID, wanted: str) -> Rejection:
    row = monitoring_db.message_state(conn, message_id)
    if row is None:
        return Rejection(Code.NOT_FOUND, "no such mailbox message", "/message_id")
    if row["acked_at"] is not None:
        now = "acknowledged"
    elif row["refused_at"] is not None:
        now = "refused"
    else:
        now = "leased" if row["leased"] else "pending"
    return Rejection(Code.ILLEGAL_TRANSITION, f"the message is {now}, not {wanted}", "/message_id")
