"""PostgreSQL: where the database is, its connection pool, and its schema migrations.

PostgreSQL is the system of record: every accepted appeal, its raw signed bytes, its
attachments and every mailbox message live here, so a hub node can die at any moment
without losing anything it has acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import Connection
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
    return attach_embedded(path).url


@dataclass(frozen=True)
class EmbeddedServer:
    """An embedded PostgreSQL this process attached to.

    ``started_here`` is true when no server was running on ``path`` before: ``serve --dev`` stops
    only such a server when it stops, never one another process had running on the same data.
    """

    path: Path
    url: str
    started_here: bool
    handle: Any = field(repr=False)  # pgserver's PostgresServer


def attach_embedded(path: Path) -> EmbeddedServer:
    """Attach to the embedded PostgreSQL under ``path``, starting it if none runs there."""
    path.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder (on import, and again on start), which
        # warns on every command where XDG_RUNTIME_DIR is unset (containers, CI); it falls back
        # to /tmp, which serves.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # imported lazily: production never needs it

        was_running = _postmaster_running(path)
        try:
            server = pgserver.get_server(path, cleanup_mode=None)
        except BaseException:  # Ctrl-C while it boots: leave no server behind that nobody owns
            if not was_running:
                _stop_postmaster(path)
            raise
    return EmbeddedServer(path.resolve(), server.get_uri(), started_here=not was_running, handle=server)


def stop_embedded(server: EmbeddedServer) -> bool:
    """Stop the server if this process started it and no other live process attached to it since.

    pgserver lists the pid of every process that attached (a CLI command, a second ``serve``, a
    test run on the same data) in ``.handle_pids.json``; the check and the stop happen under
    pgserver's own lock, so nobody attaches in between. Returns whether it was stopped.
    """
    if not server.started_here:
        return False
    handle = server.handle
    with handle._lock:  # the inter-process lock pgserver holds while it starts or attaches
        others = [pid for pid in handle.global_process_id_list.get() if pid != os.getpid()]
        if any(_alive(pid) for pid in others) or not _postmaster_running(server.path):
            return False  # someone still uses it, or it is gone already
        _stop_postmaster(server.path)
    return True


def _stop_postmaster(path: Path, timeout: float = 30) -> None:
    """PostgreSQL's fast shutdown (SIGINT, what ``pg_ctl stop -m fast`` sends): sessions end, a
    checkpoint is written, the server exits."""
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(path)
    except (AssertionError, ValueError, OSError):  # half written: it never came up
        return
    if info is None or info.process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGINT)
    info.process.wait(timeout)


def _postmaster_running(path: Path) -> bool:
    """Whether ``postmaster.pid`` under ``path`` names a live process (pgserver's own test)."""
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(path)
    except (AssertionError, ValueError, OSError):  # half written: a server is starting there
        return True
    return info is not None and info.is_running()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def open_pool(url: str, *, size: int = 10, name: str = "gateway") -> ConnectionPool:
    """A psycopg 3 pool; rows come back as dicts so adapters read columns by name.

    Connections are in autocommit mode: a single statement is its own transaction (no BEGIN and
    COMMIT round trips), and every multi-statement change opens ``conn.transaction()`` itself.

    Each connection is checked before it is handed out (:class:`CheckOrDrain`), so one the server
    closed while it sat in the pool (a failover, a restart, ``pg_terminate_backend``) is replaced
    instead of failing a request.
    """
    check = CheckOrDrain()
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        name=name,
        open=False,
        check=check,
    )
    check.pool = pool
    try:
        pool.open(wait=True, timeout=30)
    except BaseException:
        # Else its threads go on connecting: a delivery worker, which opens its pool on its first
        # task, left one such pool behind per task while the database was away.
        pool.close()
        raise
    return pool


class CheckOrDrain:
    """The pool's ``check``: psycopg_pool's own (an empty query), and on a dead connection, a drain.

    Without a check every connection the server had closed failed one request (13 of 900 pushes
    over 14 s while connections were killed). The check costs one round trip per checkout: about
    130 µs here (9 → 140 µs per checkout, PostgreSQL on localhost, 2 busy cores), against about
    5 ms for a push (ingest p50, ``bench/RESULTS.md``), which checks out one connection.

    The check alone is not enough: after a failed check the pool sleeps before taking the next
    connection, 1 s, then 2, 4, 8 …, and it hands out the oldest first, so a quiet hub's next
    request after a failover met its dead connections one by one and gave up after 30 s (a 503).
    A server that closed one idle connection has usually closed them all, so the first failed
    check drains the pool (the idle ones are closed and replaced, the busy ones when returned):
    the request waits about a second, once. At most one drain a second, as several requests may
    find dead connections at the same moment.
    """

    MIN_SECONDS_BETWEEN_DRAINS = 1.0

    def __init__(self) -> None:
        self.pool: ConnectionPool | None = None
        self._drained_at = -math.inf

    def __call__(self, conn: Connection) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            now = time.monotonic()
            if self.pool is not None and now - self._drained_at >= self.MIN_SECONDS_BETWEEN_DRAINS:
                self._drained_at = now
                log.warning("a pooled connection was dead: replacing the pool's connections")
                self.pool.drain()
            raise


# The session-level advisory lock every node takes around migrating (an arbitrary, fixed key).
MIGRATION_LOCK = 0x61_67_2D_6D_69_67_72  # "ag-migr"


def _yoyo_url(url: str, conn: Connection | None = None) -> str:
    """yoyo's URL for ``url``. yoyo parses one host only, so a multi-host URL (a primary and its
    standbys, ``target_session_attrs=read-write``) is narrowed to the server psycopg chose for
    ``conn`` (or for a connection opened now): the primary of this moment."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "," in netloc:
        if conn is None:
            with psycopg.connect(url, connect_timeout=10) as probe:
                return _yoyo_url(url, probe)
        user = netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""
        netloc = f"{user}{conn.info.host}:{conn.info.port}"
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def pending_migrations(url: str) -> list[str]:
    """Ids of migrations not yet applied (used by readiness checks and ``migrate --check``)."""
    backend = get_backend(_yoyo_url(url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))]
    finally:
        backend.connection.close()


def migrate(url: str) -> list[str]:
    """Apply pending migrations, one node at a time however many start together.

    Under a PostgreSQL advisory lock held by a session of its own: a node that finds it taken
    waits (as long as the migration takes) and then finds nothing left to apply; a node killed
    mid-migration loses the lock with its session. yoyo's own lock (a row in ``yoyo_lock``)
    gives up after 10 s of waiting and stays behind when its holder is killed, until someone runs
    ``yoyo break-lock``; under the advisory lock such a row can only be a dead node's, so it is
    removed. Migrations are transactional DDL: one killed midway is rolled back.
    """
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as lock:
        if not lock.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK,)).fetchone()[0]:
            log.info("migrations: another node is migrating; waiting for it to finish")
            lock.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        backend = get_backend(_yoyo_url(url, lock))
        try:
            _remove_dead_yoyo_lock(backend)
            migrations = read_migrations(str(MIGRATIONS_DIR))
            with backend.lock():
                todo = backend.to_apply(migrations)
                backend.apply_migrations(todo)
        finally:
            backend.connection.close()
    applied = [m.id for m in todo]
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return applied


def _remove_dead_yoyo_lock(backend: Any) -> None:
    with backend.transaction():
        removed = backend.execute("DELETE FROM yoyo_lock").rowcount  # yoyo's lock_table
    if removed:
        log.warning("migrations: removed the lock of a migration that died midway")
