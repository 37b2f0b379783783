"""SQL for appeals received through other channels and the statuses their agencies upload."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb


def lock_uploads(conn: Connection, agency_code: str) -> None:
    """Serialise one agency's uploads until commit: two batches naming the same new number would
    otherwise both create it, and the loser would fail on the unique number instead of updating."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('status-upload:' || %s, 0))", (agency_code,))


def find(conn: Connection, agency_code: str, number: str) -> dict[str, Any] | None:
    return conn.execute(
        """SELECT id, registered_on, channel, state, state_at, answer_by FROM offline_appeal
           WHERE agency_code = %s AND registration_number = %s""",
        (agency_code, number),
    ).fetchone()


def create(
    conn: Connection,
    appeal_id: UUID,
    agency_code: str,
    number: str,
    *,
    registered_on: date,
    channel: str,
    state: str,
    at: datetime,
    answer_by: date,
    access_code_sha256: str,
) -> None:
    conn.execute(
        """INSERT INTO offline_appeal (id, agency_code, registration_number, registered_on, channel, state,
                                       state_at, answer_by, access_code_sha256)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (appeal_id, agency_code, number, registered_on, channel, state, at, answer_by, access_code_sha256),
    )


def move(conn: Connection, appeal_id: UUID, state: str, at: datetime, answer_by: date) -> None:
    """The appeal's latest status is now ``state`` at ``at``, due by ``answer_by``."""
    conn.execute(
        """UPDATE offline_appeal SET state = %s, state_at = %s, answer_by = %s, updated_at = now()
           WHERE id = %s""",
        (state, at, answer_by, appeal_id),
    )


def status_stored(conn: Connection, appeal_id: UUID, state: str, at: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM offline_appeal_status WHERE offline_appeal_id = %s AND state = %s AND at = %s",
        (appeal_id, state, at),
    ).fetchone()
    return row is not None


def append_status(
    conn: Connection, appeal_id: UUID, state: str, at: datetime, details: dict[str, Any]
) -> None:
    """Append a status with the appeal's next number (uploads of one agency are serialised)."""
    conn.execute(
        """INSERT INTO offline_appeal_status (offline_appeal_id, seq, state, at, details)
           SELECT %s, coalesce(max(seq), 0) + 1, %s, %s, %s
           FROM offline_appeal_status WHERE offline_appeal_id = %s""",
        (appeal_id, state, at, Jsonb(details), appeal_id),
    )


def by_registration_number(conn: Connection, number: str) -> list[dict[str, Any]]:
    """Appeals uploaded under ``number`` (numbers are unique per agency, not across agencies)."""
    return conn.execute(
        """SELECT o.id, o.state, o.registration_number, o.registered_on, o.channel, o.answer_by,
                  o.access_code_sha256, o.agency_code, g.name AS agency_name
           FROM offline_appeal o JOIN agency g ON g.code = o.agency_code
           WHERE o.registration_number = %s""",
        (number,),
    ).fetchall()


def status_history(conn: Connection, appeal_id: UUID) -> list[dict[str, Any]]:
    """The statuses in the order they happened (late uploads of old statuses fall into place)."""
    return conn.execute(
        """SELECT seq, state, at, details FROM offline_appeal_status
           WHERE offline_appeal_id = %s ORDER BY at, seq""",
        (appeal_id,),
    ).fetchall()


def replace_access_code(conn: Connection, agency_code: str, number: str, code_sha256: str) -> UUID | None:
    """Give the agency's appeal ``number`` a new access code (the old one stops working at commit)."""
    row = conn.execute(
        """UPDATE offline_appeal SET access_code_sha256 = %s, updated_at = now()
           WHERE agency_code = %s AND registration_number = %s RETURNING id""",
        (code_sha256, agency_code, number),
    ).fetchone()
    return None if row is None else row["id"]
