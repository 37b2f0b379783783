"""The public lookup's rate limit counted in PostgreSQL: several hub processes (played here by
several limiters and threads on their own connections) allow the limit once, not once each."""

from __future__ import annotations

import threading
import time

from gateway.service.rate_limit import SharedRateLimit


def test_two_nodes_counting_at_once_allow_the_limit_once(hub) -> None:
    nodes = [SharedRateLimit("test-shared", 7), SharedRateLimit("test-shared", 7)]
    allowed: list[bool] = []
    lock = threading.Lock()

    def lookups(node: SharedRateLimit) -> None:
        for _ in range(10):
            verdict = node.check(hub, "203.0.113.50").allowed
            with lock:
                allowed.append(verdict)

    threads = [threading.Thread(target=lookups, args=(node,)) for node in nodes for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(allowed), allowed.count(True)) == (40, 7)


def test_each_client_has_its_own_allowance_and_a_new_window_a_new_one(hub) -> None:
    limit = SharedRateLimit("test-window", 2, window_seconds=1)
    while time.time() % 1 > 0.5:  # start early in a window, so the three calls share it
        time.sleep(0.05)
    verdicts = [limit.check(hub, "198.51.100.1") for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert [v.remaining for v in verdicts] == [1, 0, 0] and verdicts[-1].reset_seconds == 1
    assert limit.check(hub, "198.51.100.2").allowed
    time.sleep(1.0)
    assert limit.check(hub, "198.51.100.1").allowed


def test_old_windows_are_swept(hub) -> None:
    limit = SharedRateLimit("test-sweep", 5, window_seconds=1)
    limit.check(hub, "192.0.2.10")
    time.sleep(2.1)
    limit._next_sweep = 0.0  # the sweep is due (once per window and process)
    limit.check(hub, "192.0.2.11")
    with hub.pool.connection() as conn:
        rows = conn.execute("SELECT count(*) AS n FROM rate_limit_window WHERE bucket = 'test-sweep'")
        assert rows.fetchone()["n"] == 1
