"""SQL for notifications to applicants: who asked to be told, where, and in which language."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection


def applicant_contacts(conn: Connection, appeal_id: UUID) -> dict[str, Any]:
    """The channels the applicant asked for, their contacts as the envelope gave them, how they
    want the answer, and the jurisdiction of the agency that has the appeal now (None before
    routing). The contacts are the contact's: the co-applicant marked so in a collective appeal
    (envelope 1.1), else the applicant's."""
    return conn.execute(
        """SELECT coalesce(a.data->'notification_channels', '[]'::jsonb) AS channels,
                  coalesce(c.co, a.data->'applicant')->>'email' AS email,
                  coalesce(c.co, a.data->'applicant')->>'phone' AS phone,
                  a.data->>'reply_preference' AS reply_preference,
                  g.jurisdiction_profile
             FROM appeal a LEFT JOIN agency g ON g.code = a.agency_code
             LEFT JOIN LATERAL (
                   SELECT co FROM jsonb_array_elements(coalesce(a.data->'co_applicants', '[]'::jsonb)) co
                    WHERE co->>'contact' = 'true' LIMIT 1) c ON true
            WHERE a.id = %s""",
        (appeal_id,),
    ).fetchone()


def idempotency_key(conn: Connection, outbox_id: int, connector: str) -> str | None:
    row = conn.execute(
        "SELECT idempotency_key FROM outbox_message WHERE id = %s AND connector = %s", (outbox_id, connector)
    ).fetchone()
    return row["idempotency_key"] if row else None


def record_bounce(conn: Connection, outbox_id: int, error: str) -> dict[str, Any] | None:
    """Make a delivered message dead with ``error`` and keep the bounce as an attempt of its own;
    None when the message is not (or no longer) delivered: a repeated bounce changes nothing."""
    row = conn.execute(
        """UPDATE outbox_message
              SET attempts = attempts + 1, delivered_at = NULL, dead_at = clock_timestamp(),
                  last_attempt_at = clock_timestamp(), last_error = %(error)s
            WHERE id = %(id)s AND delivered_at IS NOT NULL
        RETURNING id, appeal_id, seq, attempts, connector""",
        {"id": outbox_id, "error": error},
    ).fetchone()
    if row is not None:
        conn.execute(
            """INSERT INTO delivery_attempt (outbox_id, attempt, started_at, outcome, error)
               VALUES (%s, %s, clock_timestamp(), 'bounced', %s)""",
            (outbox_id, row["attempts"], error),
        )
    return row
