"""SQL of periodic jobs' runs: one claim per job and period (migration 0018)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection


def period_start(conn: Connection, unit: str, tz: str, offset: int = 0) -> datetime:
    """The start of the current ``unit`` (hour, day) in ``tz`` by the database's clock (one clock
    for every node), moved by ``offset`` units (-1: the previous one)."""
    return conn.execute(
        """SELECT (date_trunc(%(unit)s, clock_timestamp() AT TIME ZONE %(tz)s)
                   + make_interval(hours => CASE WHEN %(unit)s = 'hour' THEN %(offset)s ELSE 0 END,
                                   days => CASE WHEN %(unit)s = 'day' THEN %(offset)s ELSE 0 END))
                  AT TIME ZONE %(tz)s AS start""",
        {"unit": unit, "tz": tz, "offset": offset},
    ).fetchone()["start"]


def claim(
    conn: Connection, job: str, start: datetime, node: str, stale_after: timedelta
) -> dict[str, Any] | None:
    """Claim ``job`` for the period beginning ``start``: the new row, or None when another node has
    it (running, or done). A claim left unfinished past its ``stale_at`` is taken over."""
    return conn.execute(
        """INSERT INTO scheduled_run AS r (job, period_start, node, stale_at)
           VALUES (%(job)s, %(start)s, %(node)s, clock_timestamp() + %(stale)s)
           ON CONFLICT (job, period_start) DO UPDATE
              SET node = EXCLUDED.node, started_at = clock_timestamp(), stale_at = EXCLUDED.stale_at
            WHERE r.finished_at IS NULL AND r.stale_at < clock_timestamp()
        RETURNING *""",
        {"job": job, "start": start, "node": node, "stale": stale_after},
    ).fetchone()


def finish(conn: Connection, job: str, start: datetime, node: str, outcome: str, summary: str) -> None:
    conn.execute(
        """UPDATE scheduled_run SET finished_at = clock_timestamp(), outcome = %s, summary = %s
            WHERE job = %s AND period_start = %s AND node = %s""",
        (outcome, summary, job, start, node),
    )


def run_of(conn: Connection, job: str, start: datetime) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT * FROM scheduled_run WHERE job = %s AND period_start = %s", (job, start)
    ).fetchone()
