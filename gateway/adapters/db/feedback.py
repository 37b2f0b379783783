"""SQL for applicants' feedback on answers: one per appeal, counted per agency."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection


def find(conn: Connection, appeal_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT feedback_id, rating, comment, received_at FROM appeal_feedback WHERE appeal_id = %s",
        (appeal_id,),
    ).fetchone()


def insert(
    conn: Connection,
    *,
    appeal_id: UUID,
    feedback_id: str,
    agency_code: str,
    rating: int,
    comment: str | None,
    sender_id: str,
) -> dict[str, Any]:
    return conn.execute(
        """INSERT INTO appeal_feedback (appeal_id, feedback_id, agency_code, rating, comment, sender_id)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING received_at""",
        (appeal_id, feedback_id, agency_code, rating, comment, sender_id),
    ).fetchone()


def summary(conn: Connection, agency_code: str | None = None) -> list[dict[str, Any]]:
    """Per agency (or one agency): how many rated, the mean rating, and how many gave each rating."""
    return conn.execute(
        """SELECT agency_code, count(*) AS count, round(avg(rating), 2)::float AS mean,
                  count(*) FILTER (WHERE rating = 1) AS r1, count(*) FILTER (WHERE rating = 2) AS r2,
                  count(*) FILTER (WHERE rating = 3) AS r3, count(*) FILTER (WHERE rating = 4) AS r4,
                  count(*) FILTER (WHERE rating = 5) AS r5
             FROM appeal_feedback
            WHERE %(agency)s::text IS NULL OR agency_code = %(agency)s
            GROUP BY agency_code ORDER BY agency_code""",
        {"agency": agency_code},
    ).fetchall()
