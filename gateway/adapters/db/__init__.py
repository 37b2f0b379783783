"""PostgreSQL: where the database is, its connection pool, and its schema migrations.

PostgreSQL is the system of record: every accepted appeal, its raw signed bytes, its
attachments and every mailbox message live here, so a hub node can die at any moment
without losing anything it has acknowledged.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from yoyo import get_backend, read_migrations

from gateway.config import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def resolve_database_url(settings: Settings) -> str:
    """The configured ``DATABASE_URL``, or the embedded PostgreSQL started on demand under ``var/``."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir / "pg")


def start_embedded(path: Path) -> str:
    """Start (or reuse) a real PostgreSQL server from the ``pgserver`` package; it outlives this process.

    Data under ``path`` is kept across restarts. The server keeps running after we exit so the
    next start (or a parallel CLI command) attaches to it instead of paying the boot again.
    """
    import pgserver  # imported lazily: production never needs it

    path.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder, which warns on every command where
        # XDG_RUNTIME_DIR is unset (containers, CI); it falls back to /tmp, which serves.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        server = pgserver.get_server(path, cleanup_mode=None)
    return server.get_uri()


def open_pool(url: str, *, size: int = 10, name: str = "gateway") -> ConnectionPool:
    """A psycopg 3 pool; rows come back as dicts so adapters read columns by name.

    Connections are in autocommit mode: a single statement is its own transaction (no BEGIN and
    COMMIT round trips), and every multi-statement change opens ``conn.transaction()`` itself.

    Each connection is checked (an empty query) before it is handed out, so one the server closed
    while it sat in the pool (a failover, a restart, ``pg_terminate_backend``) is replaced instead of
    failing a request: without the check every dead connection failed one request, 13 of 900
    pushes over 14 s. The check costs one round trip per checkout: about 130 µs here (9 → 140 µs
    per checkout, PostgreSQL on localhost, 2 busy cores), against about 5 ms for a push (ingest p50,
    ``bench/RESULTS.md``), which checks out one connection. After a failed check the pool waits
    about a second before it tries the next one, so a request may take that long after a kill.
    """
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        name=name,
        open=False,
        check=ConnectionPool.check_connection,
    )
    pool.open(wait=True, timeout=30)
    return pool


def _yoyo_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def pending_migrations(url: str) -> list[str]:
    """Ids of migrations not yet applied (used by readiness checks and ``migrate --check``)."""
    backend = get_backend(_yoyo_url(url))
    return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))]


def migrate(url: str) -> list[str]:
    """Apply pending migrations under yoyo's lock (safe when several nodes start at once)."""
    backend = get_backend(_yoyo_url(url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    applied = [m.id for m in todo]
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return applied
