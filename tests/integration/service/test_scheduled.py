"""Periodic jobs run once per period however many nodes run the timer (the claim in the database)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from gateway.service import scheduled

STALE = timedelta(minutes=5)


def _counting() -> tuple[list[int], object]:
    runs: list[int] = []

    def work() -> scheduled.Outcome:
        runs.append(1)
        time.sleep(0.05)  # long enough for the other nodes to arrive while it runs
        return scheduled.Outcome(True, "done")

    return runs, work


def test_of_nodes_whose_timers_fire_together_one_runs_the_period(hub) -> None:
    start = scheduled.period(hub, "hour", "UTC")
    runs, work = _counting()
    results: list[scheduled.Run] = []

    def node() -> None:
        results.append(scheduled.run_once(hub, "t-once", start, work, stale_after=STALE))

    threads = [threading.Thread(target=node) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(runs) == 1 and sorted(r.ran for r in results) == [False, False, False, True]
    later = scheduled.run_once(hub, "t-once", start, work, stale_after=STALE)
    assert not later.ran and later.other["outcome"] == "ok" and later.other["summary"] == "done"
    following = scheduled.period(hub, "hour", "UTC", offset=1)
    assert scheduled.run_once(hub, "t-once", following, work, stale_after=STALE).ran
    assert len(runs) == 2


def test_a_claim_its_node_never_finished_is_taken_again_once_stale(hub) -> None:
    start = scheduled.period(hub, "day", "Europe/Moscow")
    with hub.pool.connection() as conn:  # a node claimed the day and died
        conn.execute(
            "INSERT INTO scheduled_run (job, period_start, node, stale_at)"
            " VALUES ('t-stale', %s, 'dead:1', now())",
            (start,),
        )
    runs, work = _counting()
    assert scheduled.run_once(hub, "t-stale", start, work, stale_after=STALE).ran and runs == [1]


def test_a_failing_job_is_recorded_failed(hub) -> None:
    start = scheduled.period(hub, "day", "UTC", offset=-1)

    def broken() -> scheduled.Outcome:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        scheduled.run_once(hub, "t-fail", start, broken, stale_after=STALE)
    again = scheduled.run_once(hub, "t-fail", start, broken, stale_after=STALE)
    assert not again.ran and (again.other["outcome"], again.other["summary"]) == ("failed", "RuntimeError")
