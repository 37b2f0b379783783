"""SMS parts the SMSC accepted, and the delivery receipts that came back for them (0016_sms.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

# A receipt in a final state is not overwritten by a late intermediate one (ENROUTE, ACCEPTD).
FINAL_STATES = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED")
# The final states that mean the handset did not get the part (operators see them; 0017's index).
FAILED_STATES = ("UNDELIV", "EXPIRED", "REJECTD", "DELETED")


class SmsSubmissions:
    """The connector's :class:`~connectors.mail.sms.connector.SubmissionLog` on the hub's pool.

    Each call takes its own connection and commits at once: the delivery worker's transaction
    holds the outbox row while the connector runs, and what the SMSC accepted must be on record
    even if that attempt is then lost.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def accepted(self, outbox_id: int) -> dict[int, str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT part, message_id FROM sms_submission WHERE outbox_id = %s", (outbox_id,)
            ).fetchall()
        return {row["part"]: row["message_id"] for row in rows}

    def record(self, outbox_id: int, part: int, parts: int, message_id: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                """INSERT INTO sms_submission (outbox_id, part, parts, message_id) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (outbox_id, part) DO UPDATE SET message_id = excluded.message_id,
                       parts = excluded.parts, submitted_at = excluded.submitted_at""",
                (outbox_id, part, parts, message_id),
            )


def record_receipt(
    conn: Connection, message_id: str, state: str, error_code: str | None, done_at: datetime | None
) -> None:
    """Upsert the receipt for ``message_id``; a repeated or late intermediate one changes nothing final."""
    conn.execute(
        """INSERT INTO sms_receipt (message_id, state, error_code, done_at) VALUES (%s, %s, %s, %s)
           ON CONFLICT (message_id) DO UPDATE
              SET state = excluded.state, error_code = excluded.error_code, done_at = excluded.done_at,
                  received_at = excluded.received_at
            WHERE sms_receipt.state <> ALL(%s) OR excluded.state = ANY(%s)""",
        (message_id, state, error_code, done_at, list(FINAL_STATES), list(FINAL_STATES)),
    )


def parts_of(conn: Connection, outbox_id: int) -> list[dict[str, Any]]:
    """Each accepted part of one notification with its receipt, if one came (for operators, tests)."""
    return conn.execute(
        """SELECT s.part, s.parts, s.message_id, s.submitted_at,
                  r.state AS receipt_state, r.error_code AS receipt_error, r.done_at, r.received_at
             FROM sms_submission s LEFT JOIN sms_receipt r USING (message_id)
            WHERE s.outbox_id = %s ORDER BY s.part""",
        (outbox_id,),
    ).fetchall()
