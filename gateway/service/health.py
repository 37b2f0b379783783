"""Liveness and readiness: may this process take traffic, and if not, what is missing.

Ready means the database answers and its schema is current. (The broker joins the checks when
the return path starts using it.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    return checks


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
