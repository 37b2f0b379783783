"""Hub nodes that start together migrate an empty database once between them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from gateway.adapters.db import MIGRATIONS_DIR
from gateway.config import PROJECT_ROOT
from tests.conftest import _with_database

NODES = 3


@pytest.fixture
def empty_database(server_url: str):
    name = f"gw_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _node(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_nodes_starting_together_migrate_once(empty_database: str, tmp_path) -> None:
    """Three processes released at the same instant (a barrier file) each run ``migrate``: every one
    succeeds, each migration is applied by exactly one of them, and the schema is current."""
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from gateway.adapters.db import migrate\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.005)\n"
        "print(','.join(migrate(sys.argv[1])))\n"
    )
    nodes = [_node(script, empty_database, str(go)) for _ in range(NODES)]
    go.touch()
    results = [node.communicate(timeout=120) for node in nodes]
    assert [node.returncode for node in nodes] == [0] * NODES, [err[-2000:] for _, err in results]
    applied = [migration for out, _ in results for migration in out.strip().split(",") if migration]
    assert sorted(applied) == sorted(path.stem for path in MIGRATIONS_DIR.glob("*.sql"))
    with psycopg.connect(empty_database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert count == len(applied)


def test_a_migration_lock_left_by_a_killed_node_does_not_stop_the_next(empty_database: str) -> None:
    """yoyo's own lock is a row its holder deletes; one SIGKILLed mid-migration leaves it, and
    yoyo alone would refuse every later start (after 10 s) until someone ran ``yoyo break-lock``."""
    from gateway.adapters.db import migrate

    migrate(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    started = time.monotonic()
    assert migrate(empty_database) == []
    assert time.monotonic() - started < 5


def test_a_node_waits_for_the_migrating_one_however_long_it_takes(empty_database: str) -> None:
    """While the advisory lock is held (a long migration elsewhere), ``migrate`` waits; yoyo's
    own lock gave up after 10 s. Shown here by holding the lock for a moment and releasing it."""
    from gateway.adapters.db import MIGRATION_LOCK, migrate

    result: list[list[str]] = []
    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        waiter = threading.Thread(target=lambda: result.append(migrate(empty_database)))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive() and result == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    waiter.join(60)
    assert len(result[0]) == len(list(MIGRATIONS_DIR.glob("*.sql")))


def test_a_multi_host_url_migrates_the_primary(empty_database: str) -> None:
    """yoyo parses one host: a URL naming a primary and a standby (target_session_attrs) is
    narrowed to the server psycopg connects to. Here the first host refuses connections."""
    from gateway.adapters.db import migrate, pending_migrations

    parts = urlsplit(empty_database)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    hostport = parts.netloc.rsplit("@", 1)[-1]
    multi = urlunsplit(
        (parts.scheme, f"{userinfo}127.0.0.1:1,{hostport}", parts.path, "target_session_attrs=read-write", "")
    )
    assert len(migrate(multi)) == len(list(MIGRATIONS_DIR.glob("*.sql")))
    assert pending_migrations(multi) == []
