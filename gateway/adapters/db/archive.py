"""SQL for exporting a period to the archive: what was received and answered in it, by key first.

Lists carry keys, digests and sizes only; the bytes are fetched one message or one blob chunk at a
time by the caller, so an export holds neither a period's content in memory nor one long snapshot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection


def inbound_messages(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The portal's messages received in [start, end), oldest first, without their bytes."""
    return conn.execute(
        """SELECT sender_id, message_id, appeal_id, received_at, encode(body_sha256, 'hex') AS sha256
             FROM inbound_message WHERE received_at >= %s AND received_at < %s
            ORDER BY received_at, sender_id, message_id""",
        (start, end),
    ).fetchall()


def inbound_raw(conn: Connection, sender_id: str, message_id: UUID) -> bytes:
    row = conn.execute(
        "SELECT raw FROM inbound_message WHERE sender_id = %s AND message_id = %s", (sender_id, message_id)
    ).fetchone()
    return row["raw"]


def answers(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Agencies' signed answers received in [start, end), oldest first, with their document's size."""
    return conn.execute(
        """SELECT r.appeal_id, r.seq, r.answer_id, r.received_at, r.document_sha256, b.size,
                  r.attachments
             FROM appeal_answer r JOIN blob b ON b.sha256 = r.document_sha256
            WHERE r.received_at >= %s AND r.received_at < %s
            ORDER BY r.received_at, r.appeal_id, r.seq""",
        (start, end),
    ).fetchall()


def attachment_blobs(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every blob that an appeal received or an answer received in [start, end) attaches, once,
    with its size (None if the blob is not stored) and first use, in digest order."""
    return conn.execute(
        """WITH used AS (
               SELECT t.sha256, i.received_at
                 FROM attachment t JOIN inbound_message i ON i.appeal_id = t.appeal_id
                WHERE i.received_at >= %(start)s AND i.received_at < %(end)s
               UNION ALL
               SELECT decode(a.item->>'sha256', 'hex'), r.received_at
                 FROM appeal_answer r CROSS JOIN LATERAL jsonb_array_elements(r.attachments) AS a(item)
                WHERE r.received_at >= %(start)s AND r.received_at < %(end)s
           )
           SELECT u.sha256, b.size, min(u.received_at) AS received_at
             FROM used u LEFT JOIN blob b ON b.sha256 = u.sha256
            GROUP BY u.sha256, b.size ORDER BY u.sha256""",
        {"start": start, "end": end},
    ).fetchall()
