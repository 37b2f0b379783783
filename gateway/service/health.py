"""Liveness and readiness: may this process take traffic, and if not, what is missing.

Ready means the database answers, its schema is current, and the broker the return path
publishes to accepts a connection. (Intake itself only needs the database: the outbox keeps what
the broker cannot take yet. A deployment that prefers taking appeals through a broker outage
routes traffic on ``/health/live`` and alerts on the broker instead.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.adapters import broker_status
from gateway.adapters.db import pending_migrations
from gateway.service.hub import Hub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness(hub: Hub) -> list[Check]:
    checks = [_database(hub)]
    if checks[0].ok:
        checks.append(_migrations(hub))
    checks.append(_broker(hub))
    return checks


def _broker(hub: Hub) -> Check:
    if broker_status.reachable(hub.settings):
        return Check("broker", True, "reachable")
    return Check("broker", False, "unreachable")


def _database(hub: Hub) -> Check:
    try:
        with hub.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return Check("database", False, "unreachable")
    return Check("database", True, "reachable")


def _migrations(hub: Hub) -> Check:
    pending = pending_migrations(hub.database_url)
    if pending:
        return Check("migrations", False, "pending: " + ", ".join(pending))
    return Check("migrations", True, "current")
