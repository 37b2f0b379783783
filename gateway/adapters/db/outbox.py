"""SQL for the transactional outbox: written with the state change, published by the relay,
attempted by workers, and listed for operators (columns in migrations 0004 and 0007)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb


def enqueue(
    conn: Connection, connector: str, appeal_id: UUID, seq: int, idempotency_key: str, payload: dict[str, Any]
) -> None:
    """Add one outgoing message in the caller's transaction; a repeat of the same key is a no-op."""
    conn.execute(
        """INSERT INTO outbox_message (connector, appeal_id, seq, idempotency_key, payload)
           VALUES (%s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING""",
        (connector, appeal_id, seq, idempotency_key, Jsonb(payload)),
    )


def enqueue_reply(
    conn: Connection,
    connector: str,
    incoming_mail_id: UUID,
    appeal_id: UUID | None,
    idempotency_key: str,
    payload: dict[str, Any],
) -> None:
    """Add the reply owed to an e-mail's sender (migration 0017): owned by the e-mail, and by the
    appeal it became when it was registered; a repeat of the same key is a no-op."""
    conn.execute(
        """INSERT INTO outbox_message (connector, appeal_id, incoming_mail_id, seq, idempotency_key, payload)
           VALUES (%s, %s, %s, 0, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING""",
        (connector, appeal_id, incoming_mail_id, idempotency_key, Jsonb(payload)),
    )


def owed_to_applicant(conn: Connection, appeal_id: UUID, connectors: Sequence[str]) -> dict[str, Any]:
    """What the appeal's earlier messages on ``connectors`` gave the applicant, newest first: the
    access code and the answer (with the ``documents`` that name its signed bytes), each from the
    latest update that carried it. Every update repeats them, so none is lost to a reordering."""
    return conn.execute(
        """SELECT (SELECT payload->'access_code' FROM outbox_message
                    WHERE appeal_id = %(appeal)s AND connector = ANY(%(connectors)s)
                      AND payload ? 'access_code'
                    ORDER BY seq DESC LIMIT 1) AS access_code,
                  (SELECT jsonb_build_object('answer', payload->'answer', 'documents', payload->'documents')
                     FROM outbox_message
                    WHERE appeal_id = %(appeal)s AND connector = ANY(%(connectors)s) AND payload ? 'answer'
                    ORDER BY seq DESC LIMIT 1) AS answer""",
        {"appeal": appeal_id, "connectors": list(connectors)},
    ).fetchone()


def claim_due(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Due messages, oldest first, locked for the caller's transaction (other relays skip them)."""
    return conn.execute(
        """SELECT id, attempts FROM outbox_message
             WHERE published_at IS NULL AND delivered_at IS NULL AND dead_at IS NULL
               AND next_attempt_at <= clock_timestamp()
             ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED""",
        (limit,),
    ).fetchall()


def mark_published(conn: Connection, ids: list[int]) -> None:
    conn.execute("UPDATE outbox_message SET published_at = clock_timestamp() WHERE id = ANY(%s)", (ids,))


def reclaim_lost(conn: Connection, older_than: timedelta) -> list[dict[str, Any]]:
    """Messages whose attempt will not finish: published longer ago than ``older_than`` and never
    claimed (a broker that lost the task, a task dead-lettered after repeated worker crashes), or
    claimed by a worker whose claim ran out (it died mid-call). Each counts as a failed attempt;
    the caller schedules the next. Locked for the caller's transaction (other relays skip them)."""
    return conn.execute(
        """SELECT id, attempts, created_at, published_at, claimed_until FROM outbox_message
             WHERE delivered_at IS NULL AND dead_at IS NULL AND published_at IS NOT NULL
               AND (claimed_until < clock_timestamp()
                    OR (claimed_until IS NULL AND published_at < clock_timestamp() - %s))
             ORDER BY published_at LIMIT 100 FOR UPDATE SKIP LOCKED""",
        (older_than,),
    ).fetchall()


def claim(
    conn: Connection, outbox_id: int, attempt: int, token: UUID, lease: timedelta
) -> dict[str, Any] | None:
    """Take attempt ``attempt`` of a published message for ``lease``, or nothing: when it is not
    that attempt's turn (delivered, dead, rescheduled, a stale task) or another worker's claim on
    it still runs. A claim that ran out may be taken (its worker died). In the caller's (short)
    transaction.

    First the row's lock, which waits for a relay still committing the row's publish (the task
    can arrive before that commit); then the update, whose snapshot, taken after the wait, sees
    the publish. An update alone would judge the row by its state before the relay's commit."""
    conn.execute("SELECT 1 FROM outbox_message WHERE id = %s FOR UPDATE", (outbox_id,))
    return conn.execute(
        """UPDATE outbox_message
              SET claim_token = %(token)s, claimed_until = clock_timestamp() + %(lease)s
            WHERE id = %(id)s AND attempts + 1 = %(attempt)s AND published_at IS NOT NULL
              AND delivered_at IS NULL AND dead_at IS NULL
              AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
        RETURNING *""",
        {"id": outbox_id, "attempt": attempt, "token": token, "lease": lease},
    ).fetchone()


def claim_held(conn: Connection, outbox_id: int, attempt: int) -> bool:
    """Whether another worker's claim on this attempt still runs (why :func:`claim` said no)."""
    row = conn.execute(
        """SELECT claimed_until >= clock_timestamp() AS held FROM outbox_message
            WHERE id = %s AND attempts + 1 = %s AND delivered_at IS NULL AND dead_at IS NULL""",
        (outbox_id, attempt),
    ).fetchone()
    return bool(row and row["held"])


def finish_attempt(
    conn: Connection,
    outbox_id: int,
    attempt: int,
    started_at: datetime,
    *,
    outcome: str,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    claim_token: UUID | None = None,
) -> bool:
    """Record one attempt's outcome: ``delivered``, ``retry`` (at ``next_attempt_at``), ``dead``
    or ``lost`` (no worker finished it; scheduled like a retry), and release the claim. With
    ``claim_token``, only while that claim is still on the row: returns False (nothing written)
    when it was taken over after running out."""
    updated = conn.execute(
        """UPDATE outbox_message
              SET attempts = %(attempt)s, last_attempt_at = %(started_at)s, last_error = %(error)s,
                  published_at = CASE WHEN %(outcome)s IN ('retry', 'lost') THEN NULL ELSE published_at END,
                  next_attempt_at = COALESCE(%(next)s, next_attempt_at),
                  delivered_at = CASE WHEN %(outcome)s = 'delivered' THEN clock_timestamp() END,
                  dead_at = CASE WHEN %(outcome)s = 'dead' THEN clock_timestamp() END,
                  claim_token = NULL, claimed_until = NULL
            WHERE id = %(id)s AND (%(token)s::uuid IS NULL OR claim_token = %(token)s)""",
        {"id": outbox_id, "attempt": attempt, "started_at": started_at, "error": error,
         "outcome": outcome, "next": next_attempt_at, "token": claim_token},
    ).rowcount  # fmt: skip
    if not updated:
        return False
    conn.execute(
        """INSERT INTO delivery_attempt (outbox_id, attempt, started_at, outcome, error)
           VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
        (outbox_id, attempt, started_at, outcome, error),
    )
    return True


def revive(conn: Connection, ids: list[int] | None, connector: str | None) -> list[dict[str, Any]]:
    """Make dead messages due again now (by id, or all of a connector's, or all); the attempt
    count goes on, so their history stays readable. Returns the revived rows."""
    return conn.execute(
        """UPDATE outbox_message
              SET dead_at = NULL, published_at = NULL, next_attempt_at = clock_timestamp()
            WHERE dead_at IS NOT NULL
              AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
              AND (%(connector)s::text IS NULL OR connector = %(connector)s)
        RETURNING id, connector, appeal_id, seq, attempts""",
        {"ids": ids, "connector": connector},
    ).fetchall()


def notify(conn: Connection) -> None:
    """Wake the relays now (new messages do this by trigger; a replay is an update)."""
    conn.execute("SELECT pg_notify('outbox', '')")


def deliveries(
    conn: Connection, *, status: str | None = None, connector: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Outgoing messages with their delivery state, newest first, for operators (a reply to an
    e-mailed appeal's sender names its ``incoming_mail_id``, and its appeal if it became one)."""
    return conn.execute(
        """SELECT id, connector, appeal_id, incoming_mail_id, seq, idempotency_key, created_at, attempts,
                   last_attempt_at, last_error, next_attempt_at, published_at, delivered_at, dead_at, status
              FROM delivery
             WHERE (%(connector)s::text IS NULL OR connector = %(connector)s)
               AND (%(status)s::text IS NULL OR status = %(status)s)
             ORDER BY id DESC LIMIT %(limit)s""",
        {"status": status, "connector": connector, "limit": limit},
    ).fetchall()


def enqueue_push(conn: Connection, connector: str, mailbox_message_id: UUID) -> None:
    """Queue a mailbox message for push delivery when its agency is registered for push-soap
    (a no-op for pulling agencies). The payload names the message; the rest is read at delivery."""
    conn.execute(
        """INSERT INTO outbox_message (connector, appeal_id, seq, idempotency_key, payload)
           SELECT %(connector)s, m.appeal_id, 0, %(connector)s || ':' || m.id,
                  jsonb_build_object('agency_code', m.agency_code, 'message_id', m.id)
             FROM mailbox_message m JOIN agency a ON a.code = m.agency_code
            WHERE m.id = %(id)s AND a.delivery_mode = 'push-soap'
           ON CONFLICT (idempotency_key) DO NOTHING""",
        {"connector": connector, "id": mailbox_message_id},
    )
