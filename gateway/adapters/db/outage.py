"""The database away for a moment: which errors say so, and reads that survive a connection lost.

PostgreSQL connections die under a running hub: a failover, a restart, ``pg_terminate_backend``.
The pool checks each connection before handing it out (``open_pool``), so one that died while idle
is replaced and nobody notices; one that dies *during* a request fails that request. Then:

* a read runs once more on a fresh connection (:func:`read`): it changed nothing, so running it
  again is safe and the client never sees the blip;
* anything else fails with :class:`psycopg.OperationalError` (the pool's ``PoolTimeout``, when no
  connection can be had in time, is one too), which the faces answer ``503 service-unavailable``
  with ``Retry-After``, never 500. A write is never run again by the hub: once the connection is
  gone nobody knows whether its commit reached the database, and the client's own retry is safe
  (a push is idempotent by its message id, an event by its event id, an ack by its lease token).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg
import structlog
from psycopg_pool import ConnectionPool

log = structlog.get_logger(__name__)

T = TypeVar("T")

# What the faces tell a client to wait before retrying: a killed connection is replaced at once, a
# failover of a managed PostgreSQL takes some seconds; the client backs off on its own after that.
RETRY_AFTER_SECONDS = 5


def is_outage(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is the database failing to operate.

    That is psycopg's ``OperationalError`` (DB-API: errors of the database's operation, not of the
    program): a lost or refused connection, an administrator's shutdown, the pool's timeout, and
    also a deadlock or a statement timeout — each is worth a retry by the client, none is a bug.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, psycopg.OperationalError):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def read(pool: ConnectionPool, work: Callable[[psycopg.Connection], T]) -> T:
    """``work(conn)`` on a pooled connection; if that connection is lost under it, once more on a
    fresh one. Only for work that writes nothing (run twice, it must mean the same as once).

    Retried only when the connection broke (not for a pool timeout: waiting as long again helps no
    one; not for a statement the database refused), and only once: a second loss is an outage.
    """
    with pool.connection() as conn:
        try:
            return work(conn)
        except psycopg.OperationalError as exc:
            if not conn.broken:
                raise
            log.warning("database connection lost during a read; reading again", error=type(exc).__name__)
    # The broken connection went back to the pool, which discarded it; this one is checked.
    with pool.connection() as conn:
        return work(conn)
