"""SQL for the metrics read at scrape time: one statement per family group, each on an index.

The state lives in PostgreSQL, so every hub process (and every uvicorn worker) exports the same
numbers whatever it served itself. Each statement reads open work only — open mailbox messages
(``mailbox_open``, ``mailbox_refused``; that query is ``monitoring.mailboxes``, shared with the
operators' views), undelivered outbox rows (``outbox_due``, ``outbox_in_flight``, ``outbox_dead``),
appeals whose clock runs (``appeal_clock_running``), the
last minutes' delivery attempts (``delivery_attempt_finished``) — so a scrape costs the same in
the hub's tenth year as in its first.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg import Connection, sql


def open_deliveries(conn: Connection) -> list[dict[str, Any]]:
    """Undelivered outbox messages per connector and status, as the ``delivery`` view names them
    (pending, retrying, in-flight, dead), each status counted on its own partial index."""
    return conn.execute(
        """SELECT connector, CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END AS status,
                  count(*) AS n
             FROM outbox_message
            WHERE published_at IS NULL AND delivered_at IS NULL AND dead_at IS NULL
            GROUP BY 1, 2
           UNION ALL
           SELECT connector, 'in-flight', count(*) FROM outbox_message
            WHERE published_at IS NOT NULL AND delivered_at IS NULL AND dead_at IS NULL
            GROUP BY 1
           UNION ALL
           SELECT connector, 'dead', count(*) FROM outbox_message WHERE dead_at IS NOT NULL
            GROUP BY 1"""
    ).fetchall()


def recent_delivery_attempts(conn: Connection, seconds: int) -> list[dict[str, Any]]:
    """Delivery attempts finished in the last ``seconds``, per connector and outcome.

    A window, not a total: counting all of ``delivery_attempt`` (some hundred thousand rows a year
    in a region) at every scrape would grow with history (15 ms at 70,000 rows, bench/scrape.py).
    The bound is ``now()``: a volatile ``clock_timestamp()`` could not use the index.
    """
    return conn.execute(
        """SELECT m.connector, t.outcome, count(*) AS n
             FROM delivery_attempt t JOIN outbox_message m ON m.id = t.outbox_id
            WHERE t.finished_at > now() - make_interval(secs => %s)
            GROUP BY 1, 2""",
        (seconds,),
    ).fetchall()


def outbox_lag_seconds(conn: Connection) -> float:
    """How long the oldest due message has waited for the relay (0 when nothing is due)."""
    row = conn.execute(
        """SELECT coalesce(extract(epoch FROM clock_timestamp() - min(next_attempt_at)), 0)::float AS lag
             FROM outbox_message
            WHERE published_at IS NULL AND delivered_at IS NULL AND dead_at IS NULL
              AND next_attempt_at <= clock_timestamp()"""
    ).fetchone()
    return max(row["lag"], 0.0)


def legal_clock(
    conn: Connection, *, register_states: Collection[str], answer_states: Collection[str], at_risk_days: int
) -> list[dict[str, Any]]:
    """Per agency and deadline (``register`` or ``answer``): appeals past their due date and appeals
    due within ``at_risk_days``, both on the agency's own calendar day.

    ``register_by`` runs while the appeal can still be registered, ``answer_by`` while it can still
    be answered; the states come from the lifecycle and are written into the statement as
    literals, which lets the planner use the partial index ``appeal_clock_running``.
    """
    registering = sql.SQL(", ").join(map(sql.Literal, sorted(register_states)))
    running = sql.SQL(", ").join(map(sql.Literal, sorted({*register_states, *answer_states})))
    query = sql.SQL(
        """SELECT a.agency_code AS agency, d.deadline,
                  count(*) FILTER (WHERE d.due < d.today) AS overdue,
                  count(*) FILTER (WHERE d.due >= d.today AND d.due <= d.today + {days}) AS at_risk
             FROM appeal a
             JOIN agency g ON g.code = a.agency_code
             CROSS JOIN LATERAL (
                 SELECT CASE WHEN a.state IN ({registering}) THEN 'register' ELSE 'answer' END AS deadline,
                        CASE WHEN a.state IN ({registering}) THEN a.register_by ELSE a.answer_by END AS due,
                        (clock_timestamp() AT TIME ZONE g.timezone)::date AS today
             ) d
            WHERE a.state IN ({running})
            GROUP BY 1, 2"""
    ).format(days=sql.Literal(at_risk_days), registering=registering, running=running)
    return conn.execute(query).fetchall()


def answer_certificates(conn: Connection) -> list[dict[str, Any]]:
    """The certificate each agency's answers must be signed with (PEM), where one is registered."""
    return conn.execute(
        """SELECT code AS agency, answer_certificate FROM agency
            WHERE answer_certificate IS NOT NULL ORDER BY code"""
    ).fetchall()
