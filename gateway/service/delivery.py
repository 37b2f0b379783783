"""Delivering the outbox: publish what is due, attempt each message once per task, replay the dead.

The outbox row is the truth about a delivery; the broker only carries wake-up calls. The relay
publishes ``(outbox id, attempt number)`` for every due message, with publisher confirms, and
marks it published in the same transaction that locked it. A worker's attempt is three steps:
it takes a claim on the row in one short transaction (a token and an expiry, ``claim_seconds``),
calls the receiver with no transaction open and no connection held, and records the outcome in
another short transaction, only if its claim is still on the row. Hence:

* a crash between commit and publish leaves the row due: the next relay run publishes it;
* a publish whose commit is lost is published again; the worker drops the stale copy (its
  attempt number no longer matches) or the receiver absorbs it by the idempotency key;
* two copies of one task never call the receiver together: the second finds the claim held;
* a worker killed mid-attempt leaves its claim, which runs out: then a redelivered copy of the
  task (``acks_late``) takes it again, or the relay counts the attempt lost and schedules the next;
  the task's hard time limit is within the claim, so no live attempt loses its claim;
* a task the broker lost is noticed by the relay (published long ago, never claimed) and
  counted as a failed attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from uuid import UUID, uuid4

import structlog
from psycopg import Connection

from gateway.adapters.db import blobs
from gateway.adapters.db import outbox as outbox_db
from gateway.adapters.db.audit import append_audit
from gateway.config import Settings
from gateway.domain.delivery import Connector, DeliveryError, OutgoingMessage, RetryPolicy
from gateway.service import cabinet_updates, push
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)

DEFAULT_CLAIM = timedelta(seconds=120)
"""How long an attempt's claim lasts unless the caller says (``delivery_claim_seconds``)."""

ConnectorResolver = Callable[[str, Mapping[str, Any]], Connector]
"""The connector for a message's ``connector`` name and payload (e.g. the agency it goes to)."""


class Publisher(Protocol):
    def publish(self, outbox_id: int, attempt: int) -> None:
        """Hand the task to the broker; return once the broker confirmed it, else raise."""
        ...


@runtime_checkable
class BatchPublisher(Publisher, Protocol):
    def publish_batch(self, tasks: Sequence[tuple[int, int]]) -> None:
        """Hand every ``(outbox id, attempt)`` to the broker; return once it confirmed them all,
        else raise (then none counts as published: repeats of those it took are dropped by the
        workers, as stale or claimed, or absorbed by the receiver's idempotency key)."""
        ...


@dataclass(frozen=True, slots=True)
class RelayRun:
    published: int
    lost: int = 0
    broker_error: str | None = None


def relay_once(hub: Hub, publisher: Publisher, *, batch: int = 100) -> RelayRun:
    """Publish up to ``batch`` due messages; stops at the first broker failure (they stay due)."""
    published: list[int] = []
    error = None
    with hub.pool.connection() as conn, conn.transaction():
        rows = outbox_db.claim_due(conn, batch)
        if isinstance(publisher, BatchPublisher) and rows:
            try:  # one wait for the broker's confirms, not one per task
                publisher.publish_batch([(row["id"], row["attempts"] + 1) for row in rows])
                published = [row["id"] for row in rows]
            except Exception as exc:  # the broker is away: the whole batch stays due
                error = type(exc).__name__
                log.warning("relay publish failed", error=error, published=0)
            rows = []
        for row in rows:
            try:
                publisher.publish(row["id"], row["attempts"] + 1)
            except Exception as exc:  # the broker is away: what was not confirmed stays due
                error = type(exc).__name__
                log.warning("relay publish failed", error=error, published=len(published))
                break
            published.append(row["id"])
        if published:
            outbox_db.mark_published(conn, published)
    if published:
        log.info("relay published", count=len(published), outbox_ids=published)
    return RelayRun(len(published), broker_error=error)


def reclaim_lost(hub: Hub, policy: RetryPolicy, lost_after: timedelta) -> int:
    """Count attempts that will not finish as failed, and reschedule them: tasks no worker claimed
    within ``lost_after`` of their publish, and claims that ran out (their worker died)."""
    now = datetime.now(UTC)
    with hub.pool.connection() as conn, conn.transaction():
        rows = outbox_db.reclaim_lost(conn, lost_after)
        for row in rows:
            attempt = row["attempts"] + 1
            when = policy.next_attempt(attempt, row["created_at"], now)
            if row["claimed_until"] is not None:
                error = "the worker's claim ran out before it recorded an outcome"
            else:
                error = f"no worker finished the attempt within {int(lost_after.total_seconds())} s"
            outbox_db.finish_attempt(
                conn, row["id"], attempt, row["published_at"],
                outcome="lost" if when else "dead", next_attempt_at=when, error=error,
            )  # fmt: skip
    if rows:
        log.warning("relay rescheduled lost deliveries", count=len(rows), outbox_ids=[r["id"] for r in rows])
    return len(rows)


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt a worker holds: the row as claimed, its token, and the message to send (or why
    there is none: a permanent error such as a push whose mailbox message is gone)."""

    row: Mapping[str, Any]
    token: UUID
    attempt: int
    started: datetime
    message: OutgoingMessage | None
    error: DeliveryError | None


def attempt(
    hub: Hub,
    outbox_id: int,
    attempt_no: int,
    resolve: ConnectorResolver,
    policy: RetryPolicy,
    claim_for: timedelta = DEFAULT_CLAIM,
) -> str:
    """Run attempt ``attempt_no`` of one message; returns the outcome: ``stale`` for a task that is
    no longer current (already delivered, dead, rescheduled, or a duplicate of an earlier one),
    ``claimed`` when another worker holds the attempt, ``late`` when this worker's claim ran out
    and was taken over before it could record (its outcome is dropped; the receiver absorbs a
    repeat by the idempotency key)."""
    claim = claim_attempt(hub, outbox_id, attempt_no, claim_for)
    if isinstance(claim, str):
        log.info("delivery attempt skipped", outbox_id=outbox_id, attempt=attempt_no, outcome=claim)
        return claim
    error = claim.error or call_receiver(claim, resolve)  # no transaction open, no connection held
    return record_outcome(hub, claim, error, policy)


def claim_attempt(hub: Hub, outbox_id: int, attempt_no: int, claim_for: timedelta) -> Claim | str:
    """The claim, taken in one short transaction, and the message read after it (reads only)."""
    token = uuid4()
    with hub.pool.connection() as conn:
        with conn.transaction():
            row = outbox_db.claim(conn, outbox_id, attempt_no, token, claim_for)
        if row is None:
            return "claimed" if outbox_db.claim_held(conn, outbox_id, attempt_no) else "stale"
        started = datetime.now(UTC)
        message, error = None, None
        try:
            with conn.transaction():  # one snapshot of the documents it names
                message = outgoing_message(conn, row, attempt_no)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # reading it failed: the claim is ours, so record a retry
            log.exception("delivery message unreadable", outbox_id=outbox_id, connector=row["connector"])
            error = DeliveryError(f"unexpected {type(exc).__name__} reading the message")
    return Claim(row, token, attempt_no, started, message, error)


def call_receiver(claim: Claim, resolve: ConnectorResolver) -> DeliveryError | None:
    """Hand the message to its connector; what went wrong, as a DeliveryError, or None."""
    row = claim.row
    assert claim.message is not None
    try:
        resolve(row["connector"], row["payload"]).deliver(claim.message)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a connector's bug must not lose the message: retry, and say so
        log.exception(
            "delivery failed unexpectedly", outbox_id=row["id"], connector=row["connector"],
            appeal_id=_id(row["appeal_id"]),
        )  # fmt: skip
        return DeliveryError(f"unexpected {type(exc).__name__} in the connector")
    return None


def record_outcome(hub: Hub, claim: Claim, error: DeliveryError | None, policy: RetryPolicy) -> str:
    """Write the outcome in one short transaction, if the claim is still this worker's."""
    row, attempt_no = claim.row, claim.attempt
    if error is None:
        outcome, when = "delivered", None
    else:
        when = None if error.permanent else policy.next_attempt(
            attempt_no, row["created_at"], datetime.now(UTC), retry_after=error.retry_after
        )  # fmt: skip
        outcome = "retry" if when else "dead"
    with hub.pool.connection() as conn, conn.transaction():
        recorded = outbox_db.finish_attempt(
            conn, row["id"], attempt_no, claim.started, outcome=outcome,
            error=error.reason if error else None, next_attempt_at=when, claim_token=claim.token,
        )  # fmt: skip
        if recorded and outcome == "delivered" and row["connector"] == push.SED_PUSH:
            push.delivered(conn, row["payload"])
    if not recorded:
        log.warning(
            "delivery outcome dropped: the claim ran out and was taken over", outbox_id=row["id"],
            connector=row["connector"], attempt=attempt_no, outcome=outcome,
        )  # fmt: skip
        return "late"
    # The reason names a status, a class or a receiver's code, never its words (DeliveryError).
    log.info(
        "delivery attempted", outbox_id=row["id"], connector=row["connector"],
        appeal_id=_id(row["appeal_id"]), seq=row["seq"], attempt=attempt_no, outcome=outcome,
        error=error.reason if error else None, permanent=error.permanent if error else None,
        next_attempt_at=when.isoformat() if when else None,
    )  # fmt: skip
    return outcome


def _id(value: Any) -> str | None:
    """An id for the logs; a reply to an e-mail's sender may have no appeal (migration 0017)."""
    return str(value) if value is not None else None


def outgoing_message(conn: Connection, row: Mapping[str, Any], attempt_no: int) -> OutgoingMessage:
    """The connector's view of a row, with the documents it names read from the blob store (a
    push reads its appeal as it is now; a cabinet update queued before contract 2 gets what it
    lacks, see ``cabinet_updates.complete``)."""
    prepare = _PREPARE.get(row["connector"])
    if prepare is not None:
        payload, documents = prepare(conn, row)
    else:
        payload, documents = row["payload"], {}
    if not documents:
        documents = {
            name: b"".join(blobs.iter_chunks(conn, bytes.fromhex(sha256)))
            for name, sha256 in (payload.get("documents") or {}).items()
        }
    return OutgoingMessage(
        id=row["id"],
        connector=row["connector"],
        appeal_id=row["appeal_id"],
        seq=row["seq"],
        idempotency_key=row["idempotency_key"],
        payload=payload,
        created_at=row["created_at"],
        attempt=attempt_no,
        documents=documents,
    )


_PREPARE: dict[str, Callable[[Connection, Mapping[str, Any]], tuple[dict[str, Any], dict[str, bytes]]]] = {
    push.SED_PUSH: lambda conn, row: push.prepare(conn, row["payload"]),
    cabinet_updates.CABINET: lambda conn, row: (cabinet_updates.complete(conn, row), {}),
}


def replay(
    hub: Hub, actor: str, *, ids: list[int] | None = None, connector: str | None = None
) -> list[dict[str, Any]]:
    """Make dead deliveries due again (after the operator fixed the cause), audited per appeal."""
    with hub.pool.connection() as conn, conn.transaction():
        revived = outbox_db.revive(conn, ids, connector)
        for row in revived:
            details = {"outbox_id": row["id"], "connector": row["connector"], "seq": row["seq"]}
            append_audit(conn, row["appeal_id"], actor, "delivery-replayed", details)
        if revived:
            outbox_db.notify(conn)
    return revived


def claim_length(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_claim_seconds)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.delivery_retry_base_seconds),
        cap=timedelta(seconds=settings.delivery_retry_cap_seconds),
        max_age=timedelta(hours=settings.delivery_max_age_hours),
    )
