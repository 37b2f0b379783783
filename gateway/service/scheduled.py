"""Periodic jobs that run once per period however many nodes run the timer.

Every node carries the same timers (systemd units in deploy/systemd), so losing a node loses no
job; the database decides which node runs each period: the first to claim it. Not Celery beat:
beat is one more singleton process to place, watch and fail over, and two beats double every
job. Not a lock held while the job runs: a claim row also records who ran the period and how it
ended, and a later timer on any node sees the period done. A node that dies mid-job leaves its
claim; after ``stale_after`` another node may take the period again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.adapters.db import scheduled as scheduled_db
from gateway.service.hub import Hub


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    summary: str


@dataclass(frozen=True, slots=True)
class Run:
    """What a node did about a period: ran it (``outcome``), or found another node's claim."""

    job: str
    period_start: datetime
    ran: bool
    outcome: Outcome | None = None
    other: dict | None = None


def this_node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def period(hub: Hub, unit: str, tz: str, offset: int = 0) -> datetime:
    with hub.pool.connection() as conn:
        return scheduled_db.period_start(conn, unit, tz, offset)


def run_once(
    hub: Hub, job: str, start: datetime, work: Callable[[], Outcome], *, stale_after: timedelta
) -> Run:
    """Run ``work`` if this node is the first to claim ``job`` for the period beginning ``start``.
    The claim commits before the work starts (other nodes see it at once); the outcome after."""
    node = this_node()
    with hub.pool.connection() as conn:
        claimed = scheduled_db.claim(conn, job, start, node, stale_after)
        if claimed is None:
            return Run(job, start, ran=False, other=scheduled_db.run_of(conn, job, start))
    try:
        outcome = work()
    except BaseException as exc:
        _finish(hub, job, start, node, Outcome(False, f"{type(exc).__name__}"))
        raise
    _finish(hub, job, start, node, outcome)
    return Run(job, start, ran=True, outcome=outcome)


def _finish(hub: Hub, job: str, start: datetime, node: str, outcome: Outcome) -> None:
    with hub.pool.connection() as conn:
        scheduled_db.finish(conn, job, start, node, "ok" if outcome.ok else "failed", outcome.summary)
