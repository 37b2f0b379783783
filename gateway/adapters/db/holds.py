"""SQL for appeals held back from their agency until their attachments are scanned (migration 0020)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection


def hold(conn: Connection, appeal_id: UUID, mailbox_message_id: UUID) -> None:
    conn.execute(
        "INSERT INTO attachment_hold (appeal_id, mailbox_message_id) VALUES (%s, %s)",
        (appeal_id, mailbox_message_id),
    )


def held_message(conn: Connection, appeal_id: UUID) -> UUID | None:
    """The mailbox message id a held appeal will be posted under, or None when it is not held."""
    row = conn.execute(
        "SELECT mailbox_message_id FROM attachment_hold WHERE appeal_id = %s", (appeal_id,)
    ).fetchone()
    return row["mailbox_message_id"] if row else None


def waiting(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Held appeals not yet found infected, oldest first, with their attachments' digests."""
    return conn.execute(
        """SELECT h.appeal_id, h.held_at, a.agency_code,
                  coalesce((SELECT array_agg(t.sha256 ORDER BY t.n) FROM attachment t
                             WHERE t.appeal_id = h.appeal_id), '{}') AS digests
             FROM attachment_hold h JOIN appeal a ON a.id = h.appeal_id
            WHERE h.infected IS NULL ORDER BY h.held_at LIMIT %s""",
        (limit,),
    ).fetchall()


def listing(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Every hold, for operators (no personal data: ids, agency, times, clamd's words)."""
    return conn.execute(
        """SELECT h.appeal_id, a.agency_code, h.held_at, h.scans, h.last_error, h.infected
             FROM attachment_hold h JOIN appeal a ON a.id = h.appeal_id
            ORDER BY h.held_at LIMIT %s""",
        (limit,),
    ).fetchall()


def release(conn: Connection, appeal_id: UUID) -> dict[str, Any] | None:
    """Take the hold off (in the caller's transaction); None when another releaser took it first."""
    return conn.execute(
        """DELETE FROM attachment_hold h USING appeal a
            WHERE h.appeal_id = %s AND a.id = h.appeal_id AND h.infected IS NULL
        RETURNING h.mailbox_message_id, a.agency_code""",
        (appeal_id,),
    ).fetchone()


def post(conn: Connection, mailbox_message_id: UUID, agency_code: str, appeal_id: UUID, kind: str) -> None:
    conn.execute(
        "INSERT INTO mailbox_message (id, agency_code, appeal_id, kind) VALUES (%s, %s, %s, %s)",
        (mailbox_message_id, agency_code, appeal_id, kind),
    )


def failed(conn: Connection, appeal_id: UUID, error: str) -> None:
    conn.execute(
        "UPDATE attachment_hold SET scans = scans + 1, last_error = %s WHERE appeal_id = %s",
        (error, appeal_id),
    )


def infected(conn: Connection, appeal_id: UUID, signature: str) -> bool:
    return (
        conn.execute(
            """UPDATE attachment_hold SET scans = scans + 1, infected = %s
                WHERE appeal_id = %s AND infected IS NULL RETURNING appeal_id""",
            (signature, appeal_id),
        ).fetchone()
        is not None
    )
