"""SQL for agencies' signed answers (the bytes themselves are blobs, see ``blobs.py``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb


def insert(
    conn: Connection,
    *,
    appeal_id: UUID,
    seq: int,
    answer_id: UUID,
    answered_on: date,
    document_sha256: bytes,
    attachments: list[dict[str, Any]],
    received_at: datetime,
) -> None:
    """The answer of the event ``seq`` (written in that event's transaction)."""
    conn.execute(
        """INSERT INTO appeal_answer
                  (appeal_id, seq, answer_id, answered_on, document_sha256, attachments, received_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (appeal_id, seq, answer_id, answered_on, document_sha256, Jsonb(attachments), received_at),
    )


def attachment_for_sender(
    conn: Connection, appeal_id: UUID, content_id: str, sender_id: str
) -> dict[str, Any] | None:
    """An attachment of the appeal's latest answer, if the appeal came from ``sender_id``.

    ``n`` is the attachment's place in the signed list, from 1.
    """
    return conn.execute(
        """SELECT e.n, e.item->>'file_name' AS file_name, e.item->>'media_type' AS media_type,
                  (e.item->>'size')::bigint AS size, decode(e.item->>'sha256', 'hex') AS sha256
           FROM appeal a
           JOIN appeal_answer r ON r.appeal_id = a.id
           CROSS JOIN LATERAL jsonb_array_elements(r.attachments) WITH ORDINALITY AS e(item, n)
           WHERE a.id = %s AND a.sender_id = %s AND e.item->>'content_id' = %s
           ORDER BY r.seq DESC LIMIT 1""",
        (appeal_id, sender_id, content_id),
    ).fetchone()
