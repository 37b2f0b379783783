"""Connections killed under the pool, on the real PostgreSQL: the pool heals, reads run again once,
the relay and a delivery attempt carry on.

Sessions are ended with ``pg_terminate_backend``, which is what a failover or a restart does to
them: the server says ``57P01 admin_shutdown`` and closes the socket.
"""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from gateway.adapters.db import open_pool
from gateway.adapters.db.outage import is_outage, read
from gateway.faces.worker.relay import run_relay
from gateway.service import delivery, intake, mailbox
from gateway.service.health import readiness
from gateway.service.hub import Hub
from gateway.simulators.samples import sample_appeal
from tests.integration.service.test_delivery import AGENCY, Receiver, RecordingPublisher, _registered_appeal


@pytest.fixture
def pool(database_url):
    pool = open_pool(database_url, size=3, name="outage-test")
    yield pool
    pool.close()


def _fill(pool, n: int) -> list[int]:
    """Open ``n`` connections at once (so the pool holds that many); their backends' pids."""
    conns = [pool.getconn() for _ in range(n)]
    pids = [c.info.backend_pid for c in conns]
    for c in conns:
        pool.putconn(c)
    return pids


def test_the_pool_hands_out_no_connection_the_server_closed(pool, terminate_backends):
    before = _fill(pool, 3)
    assert terminate_backends() >= 3
    time.sleep(0.2)  # the server has closed the sockets
    for _ in range(3):
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] not in before


def test_a_quiet_pool_whose_connections_all_died_serves_its_next_request_at_once(
    database_url, terminate_backends
):
    """One client after a failover: psycopg_pool alone would try the six dead connections one by
    one, sleeping 1, 2, 4, 8, 16 s between them, and time out after 30 s."""
    pool = open_pool(database_url, size=6, name="outage-quiet")
    try:
        _fill(pool, 6)
        assert terminate_backends() >= 6
        time.sleep(0.2)
        started = time.monotonic()
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        assert time.monotonic() - started < 5
    finally:
        pool.close()


def test_a_read_whose_connection_is_lost_runs_once_more_on_a_fresh_one(pool, terminate_backends):
    runs: list[int] = []

    def work(conn: psycopg.Connection) -> int:
        pid = conn.info.backend_pid
        runs.append(pid)
        if len(runs) == 1:
            assert terminate_backends() >= 1  # this very connection, mid-request
        return conn.execute("SELECT 42 AS answer").fetchone()["answer"]

    assert read(pool, work) == 42
    assert len(runs) == 2 and runs[0] != runs[1]


def test_a_read_lost_twice_is_an_outage(pool, terminate_backends):
    def work(conn: psycopg.Connection) -> None:
        terminate_backends()
        conn.execute("SELECT 1")

    with pytest.raises(psycopg.OperationalError) as caught:
        read(pool, work)
    assert is_outage(caught.value)


def test_a_statement_the_database_refuses_is_not_read_again(pool):
    runs = []

    def work(conn: psycopg.Connection) -> None:
        runs.append(1)
        conn.execute("SET statement_timeout = 10")
        try:
            conn.execute("SELECT pg_sleep(1)")
        finally:
            conn.execute("RESET statement_timeout")

    with pytest.raises(psycopg.errors.QueryCanceled):
        read(pool, work)
    assert len(runs) == 1  # the connection is fine: running it again would time out again


def test_with_the_database_refusing_connections_readiness_fails_in_seconds(server_url, settings):
    """No database at all (it refuses every connection): readiness says so within its 2 s, and
    what waits for a connection gets the pool's timeout, which the faces answer with 503."""
    name = f"gw_outage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    pool = open_pool(url, size=2, name="refused")
    try:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        started = time.monotonic()
        (database, *_) = readiness(Hub(settings=settings, pool=pool, database_url=url))
        assert (database.name, database.ok) == ("database", False)
        assert time.monotonic() - started < 5
        with pytest.raises(PoolTimeout) as caught, pool.connection(timeout=1):
            pass
        assert is_outage(caught.value)
    finally:
        pool.close()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_what_counts_as_an_outage():
    assert is_outage(PoolTimeout("no connection in 30 s"))
    assert is_outage(psycopg.errors.AdminShutdown("terminating connection"))
    wrapped = RuntimeError("while reading")
    wrapped.__cause__ = psycopg.OperationalError("server closed the connection unexpectedly")
    assert is_outage(wrapped)
    assert not is_outage(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_outage(ValueError("a bug"))


def test_the_relay_carries_on_after_its_connections_are_killed(hub, portal, terminate_backends):
    publisher = RecordingPublisher()
    stop = threading.Event()
    relay = threading.Thread(target=run_relay, args=(hub, publisher, hub.settings, stop), daemon=True)
    relay.start()
    try:
        _registered_appeal(hub, portal)
        _wait(lambda: len(publisher.published) == 1, "the first publish")
        for _ in range(2):
            assert terminate_backends() >= 1  # the relay's listener and the pool's connections
            time.sleep(0.3)
        _registered_appeal(hub, portal)
        _wait(lambda: len(publisher.published) == 2, "a publish after the kills")
    finally:
        stop.set()
        relay.join(timeout=15)
    assert not relay.is_alive()


def test_a_delivery_attempt_after_a_kill_gets_a_fresh_connection(hub, portal, terminate_backends):
    _registered_appeal(hub, portal)
    publisher = RecordingPublisher()
    delivery.relay_once(hub, publisher)
    ((outbox_id, attempt),) = publisher.published
    terminate_backends()
    receiver = Receiver()
    policy = delivery.retry_policy(hub.settings)
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, policy) == "delivered"
    assert len(receiver.received) == 1


def test_service_reads_survive_a_kill_between_requests(hub, portal, terminate_backends):
    intake.accept(hub, portal.envelope(sample_appeal(0)))
    terminate_backends()
    assert mailbox.statistics(hub, AGENCY).pending == 1


def _wait(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
