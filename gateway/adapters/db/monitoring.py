"""SQL for what operators watch: mailboxes per agency, deliveries per connector (SMS with their
delivery receipts), an appeal's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection

# One write per agency per second at most: pullers polling in parallel do not queue on the row.
_TOUCH = """INSERT INTO agency_activity (agency_code, {column}) VALUES (%(agency)s, clock_timestamp())
            ON CONFLICT (agency_code) DO UPDATE SET {column} = excluded.{column}
            WHERE agency_activity.{column} IS NULL
               OR agency_activity.{column} < excluded.{column} - interval '1 second'"""


def touch_pull(conn: Connection, agency_code: str) -> None:
    conn.execute(_TOUCH.format(column="last_pull_at"), {"agency": agency_code})


def touch_ack(conn: Connection, agency_code: str) -> None:
    conn.execute(_TOUCH.format(column="last_ack_at"), {"agency": agency_code})


def mailboxes(conn: Connection) -> list[dict[str, Any]]:
    """Every registered agency's mailbox (an agency with nothing open is a row of zeros): pending,
    leased, redelivered (open and leased more than once), refused, the oldest pending message's age,
    and when the agency last pulled and acknowledged (None if never).

    Open messages are read on ``mailbox_open`` and refused ones on ``mailbox_refused``, so the
    query costs the same in the hub's tenth year as in its first (operators' views and the
    metrics scrape both read it).
    """
    return conn.execute(
        """WITH now AS (SELECT clock_timestamp() AS t)
           SELECT g.code AS agency_code, g.delivery_mode, o.pending, o.leased, o.redelivered,
                  (SELECT count(*) FROM mailbox_message r
                    WHERE r.agency_code = g.code AND r.refused_at IS NOT NULL AND r.acked_at IS NULL)
                      AS refused,
                  extract(epoch FROM now.t - o.oldest_pending_at)::float AS oldest_pending_age_s,
                  a.last_pull_at, a.last_ack_at
             FROM agency g
             CROSS JOIN now
             LEFT JOIN agency_activity a ON a.agency_code = g.code
             CROSS JOIN LATERAL (
                 SELECT count(*) FILTER (WHERE m.visible_at <= now.t) AS pending,
                        count(*) FILTER (WHERE m.visible_at > now.t) AS leased,
                        count(*) FILTER (WHERE m.delivery_count > 1) AS redelivered,
                        min(m.created_at) FILTER (WHERE m.visible_at <= now.t) AS oldest_pending_at
                   FROM mailbox_message m
                  WHERE m.agency_code = g.code AND m.acked_at IS NULL AND m.refused_at IS NULL
             ) o
            ORDER BY g.code"""
    ).fetchall()


def deliveries_by_connector(conn: Connection) -> list[dict[str, Any]]:
    """Per connector: how many deliveries are in each open status, and the oldest one's creation."""
    return conn.execute(
        """SELECT connector,
                  count(*) FILTER (WHERE status = 'pending') AS pending,
                  count(*) FILTER (WHERE status = 'in-flight') AS in_flight,
                  count(*) FILTER (WHERE status = 'retrying') AS retrying,
                  count(*) FILTER (WHERE status = 'dead') AS dead,
                  min(created_at) FILTER (WHERE status <> 'dead') AS oldest_open_at
             FROM delivery WHERE status <> 'delivered'
            GROUP BY connector ORDER BY connector"""
    ).fetchall()


def find_appeals(conn: Connection, ref: str) -> list[dict[str, Any]]:
    """Appeals an operator may mean by ``ref``: the hub's id, the portal's id, or a registration number
    it has now or had before a redirect (numbers are unique per agency only, so several agencies'
    appeals may answer)."""
    try:
        by_id: UUID | None = UUID(ref)
    except ValueError:
        by_id = None
    return conn.execute(
        """SELECT id, sender_id, portal_appeal_id, agency_code, state, received_at, registration_number,
                  registered_on, register_by, redirect_by, answer_by, extensions
             FROM appeal
            WHERE id = %(id)s OR portal_appeal_id = %(ref)s
               OR id IN (SELECT appeal_id FROM appeal_registration WHERE registration_number = %(ref)s)
            ORDER BY received_at, id LIMIT 20""",
        {"id": by_id, "ref": ref},
    ).fetchall()


def timeline(conn: Connection, appeal_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """An appeal's events, audit trail, mailbox messages and deliveries with their attempts."""
    rows = {
        "events": conn.execute(
            """SELECT seq, type, actor, at, state_after FROM appeal_event
                WHERE appeal_id = %s ORDER BY seq""",
            (appeal_id,),
        ).fetchall(),
        "audit": conn.execute(
            "SELECT id, at, actor, action, details FROM audit_record WHERE appeal_id = %s ORDER BY id",
            (appeal_id,),
        ).fetchall(),
        "messages": conn.execute(
            """SELECT id, agency_code, kind, created_at, delivery_count, last_leased_at, visible_at,
                      acked_at, refused_at
                 FROM mailbox_message WHERE appeal_id = %s ORDER BY created_at, id""",
            (appeal_id,),
        ).fetchall(),
        "deliveries": conn.execute(
            """SELECT d.id, d.connector, d.seq, d.status, d.attempts, d.last_error, d.next_attempt_at,
                      d.created_at, d.delivered_at, d.dead_at,
                      coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'attempt', t.attempt, 'started_at', t.started_at,
                                    'finished_at', t.finished_at, 'outcome', t.outcome, 'error', t.error)
                                    ORDER BY t.attempt)
                                  FROM delivery_attempt t WHERE t.outbox_id = d.id), '[]'::jsonb) AS tries,
                      coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'part', s.part, 'parts', s.parts, 'state', r.state,
                                    'error', r.error_code, 'done_at', r.done_at, 'received_at', r.received_at)
                                    ORDER BY s.part)
                                  FROM sms_submission s LEFT JOIN sms_receipt r USING (message_id)
                                 WHERE s.outbox_id = d.id), '[]'::jsonb) AS receipts
                 FROM delivery d WHERE d.appeal_id = %s ORDER BY d.id""",
            (appeal_id,),
        ).fetchall(),
    }
    return rows


def undelivered_sms(conn: Connection, failed_states: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """SMS parts the SMSC took (the delivery is ``delivered``) whose receipt says the handset did
    not get them, newest receipt first (read on ``sms_receipt_failed``, migration 0017)."""
    return conn.execute(
        """SELECT d.id, d.connector, d.appeal_id, d.seq, d.delivered_at, s.part, s.parts,
                  r.state, r.error_code AS error, r.done_at, r.received_at
             FROM sms_receipt r
             JOIN sms_submission s USING (message_id)
             JOIN delivery d ON d.id = s.outbox_id
            WHERE r.state = ANY(%s)
            ORDER BY r.received_at DESC, d.id, s.part LIMIT %s""",
        (list(failed_states), limit),
    ).fetchall()


def release_lease(conn: Connection, message_id: UUID) -> dict[str, Any] | None:
    """Make a leased message pending now; its lease token stops working (the EDMS's ack is refused)."""
    return conn.execute(
        """UPDATE mailbox_message SET visible_at = clock_timestamp(), lease_token = NULL
            WHERE id = %s AND acked_at IS NULL AND refused_at IS NULL AND visible_at > clock_timestamp()
        RETURNING id, appeal_id, agency_code""",
        (message_id,),
    ).fetchone()


def requeue_refused(conn: Connection, message_id: UUID) -> dict[str, Any] | None:
    """Offer a message the EDMS refused again, once the cause is fixed: pending now, with a fresh lease
    (``refused_reason`` stays, as the last refusal's reason)."""
    return conn.execute(
        """UPDATE mailbox_message
              SET refused_at = NULL, visible_at = clock_timestamp(), lease_token = NULL
            WHERE id = %s AND refused_at IS NOT NULL
        RETURNING id, appeal_id, agency_code""",
        (message_id,),
    ).fetchone()


def message_state(conn: Connection, message_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        """SELECT id, acked_at, refused_at, visible_at > clock_timestamp() AS leased
             FROM mailbox_message WHERE id = %s""",
        (message_id,),
    ).fetchone()
