"""Answers to send by post: derived from the appeals (ReplyPreference=post in ``appeal.data``) and
their answers, with the posting recorded as the appeal's ``dispatched`` event; no table of its own,
so the list cannot disagree with the events it is made of."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from gateway.domain.postal_dispatch import DISPATCHED, REPLY_BY_POST

# Each answered appeal's latest answer, its applicant's name and address as the envelope gave
# them, and its dispatched event if any. Personal data: for the operators' list only, never a log.
_LIST = """
    SELECT a.id AS appeal_id, a.agency_code, g.name AS agency_name, a.registration_number,
           a.data->'applicant'->'person' AS person, a.data->'applicant'->'organisation' AS organisation,
           a.data->'applicant'->'postal_address' AS postal_address,
           r.answer_id, r.answered_on, r.received_at AS answered_at,
           e.at AS dispatched_at, e.actor AS dispatched_by,
           e.details->>'dispatched_on' AS dispatched_on, e.details->>'tracking_number' AS tracking_number
      FROM appeal a
      JOIN LATERAL (SELECT * FROM appeal_answer r WHERE r.appeal_id = a.id ORDER BY r.seq DESC LIMIT 1) r
        ON true
      LEFT JOIN agency g ON g.code = a.agency_code
      LEFT JOIN appeal_event e ON e.appeal_id = a.id AND e.type = %(dispatched)s
     WHERE a.data->>'reply_preference' = %(post)s
       AND (e.seq IS NOT NULL) = %(dispatched_ones)s
     ORDER BY r.received_at, a.id
     LIMIT %(limit)s"""


def answers_to_post(conn: Connection, *, dispatched: bool, limit: int) -> list[dict[str, Any]]:
    """Answered appeals whose applicants want the answer by post: waiting (oldest answer first)
    or already posted."""
    return conn.execute(
        _LIST,
        {"dispatched": DISPATCHED, "post": REPLY_BY_POST, "dispatched_ones": dispatched, "limit": limit},
    ).fetchall()


def for_dispatch(conn: Connection, appeal_id: UUID) -> dict[str, Any] | None:
    """The appeal, locked for its next event: its state, reply preference, latest answer and
    dispatched event (``None`` where there is none yet)."""
    return conn.execute(
        """SELECT a.id, a.state, a.agency_code, a.data->>'reply_preference' AS reply_preference,
                  (SELECT r.answered_on FROM appeal_answer r WHERE r.appeal_id = a.id
                    ORDER BY r.seq DESC LIMIT 1) AS answered_on,
                  (SELECT e.seq FROM appeal_event e WHERE e.appeal_id = a.id AND e.type = %s
                    LIMIT 1) AS dispatched_seq
             FROM appeal a WHERE a.id = %s FOR UPDATE OF a""",
        (DISPATCHED, appeal_id),
    ).fetchone()
