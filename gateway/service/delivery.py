"""Delivering the outbox: publish what is due, attempt each message once per task, replay the dead.

The outbox row is the truth about a delivery; the broker only carries wake-up calls. The relay
publishes ``(outbox id, attempt number)`` for every due message, with publisher confirms, and
marks it published in the same transaction that locked it; a worker attempts it under the row
lock and writes the outcome back. Hence:

* a crash between commit and publish leaves the row due: the next relay run publishes it;
* a publish whose commit is lost is published again; the worker drops the stale copy (its
  attempt number no longer matches) or the receiver absorbs it by the idempotency key;
* a worker killed mid-attempt releases the row lock with its connection; the broker redelivers
  the unacknowledged task (``acks_late``) and the attempt runs again;
* a task the broker lost is noticed by the relay (published long ago, never finished) and
  counted as a failed attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

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

ConnectorResolver = Callable[[str, Mapping[str, Any]], Connector]
"""The connector for a message's ``connector`` name and payload (e.g. the agency it goes to)."""


class Publisher(Protocol):
    def publish(self, outbox_id: int, attempt: int) -> None:
        """Hand the task to the broker; return once the broker confirmed it, else raise."""
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
        for row in outbox_db.claim_due(conn, batch):
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
    """Count tasks no worker finished within ``lost_after`` as failed attempts, and reschedule them."""
    now = datetime.now(UTC)
    with hub.pool.connection() as conn, conn.transaction():
        rows = outbox_db.reclaim_lost(conn, lost_after)
        for row in rows:
            attempt = row["attempts"] + 1
            when = policy.next_attempt(attempt, row["created_at"], now)
            outbox_db.finish_attempt(
                conn, row["id"], attempt, row["published_at"],
                outcome="lost" if when else "dead", next_attempt_at=when,
                error=f"no worker finished the attempt within {int(lost_after.total_seconds())} s",
            )  # fmt: skip
    if rows:
        log.warning("relay rescheduled lost deliveries", count=len(rows), outbox_ids=[r["id"] for r in rows])
    return len(rows)


def attempt(
    hub: Hub, outbox_id: int, attempt_no: int, resolve: ConnectorResolver, policy: RetryPolicy
) -> str:
    """Run attempt ``attempt_no`` of one message; returns the outcome (``stale`` for a task that
    is no longer current: already delivered, dead, rescheduled, or a duplicate of an earlier one)."""
    with hub.pool.connection() as conn, conn.transaction():
        row = outbox_db.lock_for_attempt(conn, outbox_id)
        if (
            row is None
            or row["delivered_at"] is not None
            or row["dead_at"] is not None
            or row["published_at"] is None
            or row["attempts"] + 1 != attempt_no
        ):
            log.info("delivery attempt skipped", outbox_id=outbox_id, attempt=attempt_no, outcome="stale")
            return "stale"
        started = datetime.now(UTC)
        error: DeliveryError | None = None
        try:
            message = outgoing_message(conn, row, attempt_no)
            resolve(row["connector"], row["payload"]).deliver(message)
            if row["connector"] == push.SED_PUSH:
                push.delivered(conn, row["payload"])
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a connector's bug must not lose the message: retry, and say so
            log.exception(
                "delivery failed unexpectedly", outbox_id=outbox_id, connector=row["connector"],
                appeal_id=_id(row["appeal_id"]),
            )  # fmt: skip
            error = DeliveryError(f"unexpected {type(exc).__name__} in the connector")
        if error is None:
            outcome, when = "delivered", None
        else:
            when = None if error.permanent else policy.next_attempt(
                attempt_no, row["created_at"], datetime.now(UTC), retry_after=error.retry_after
            )  # fmt: skip
            outcome = "retry" if when else "dead"
        outbox_db.finish_attempt(
            conn, outbox_id, attempt_no, started,
            outcome=outcome, error=error.reason if error else None, next_attempt_at=when,
        )  # fmt: skip
    # The reason names a status, a class or a receiver's code, never its words (DeliveryError).
    log.info(
        "delivery attempted", outbox_id=outbox_id, connector=row["connector"],
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


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.delivery_retry_base_seconds),
        cap=timedelta(seconds=settings.delivery_retry_cap_seconds),
        max_age=timedelta(hours=settings.delivery_max_age_hours),
    )
