"""Audit: how many audited commits a second the hub's database takes from 4 writers, with the chain
sealed in batches after commit (migration 0023, as deployed) against the per-commit trigger it
replaced (0010's, recreated on this bench's own scratch database for the comparison), in one run,
alternating rounds so both sides see the same machine.

Each writer is a process of its own (no GIL between them) with one connection, committing one
audit record per transaction through the hub's own adapter (``gateway/adapters/db/audit.py``
``append_audit``), as intake, lease and acknowledge each commit theirs. In sealer rounds the sealer
runs as the relay runs it (``gateway.service.audit_chain``'s timer: ``seal`` every
GATEWAY_AUDIT_SEAL_INTERVAL_SECONDS); each record carries its insert time in ``details``, so the
window — from insert to chained — is read off the chain afterwards. In trigger rounds no sealer
runs: the trigger chains each record at its commit. A third kind of round writes the same row to a
table with no chain at all: the ceiling this server's commits allow. During every round the
writers' wait events are sampled from pg_stat_activity (the profile: head lock, WAL flush, CPU).

Then the sealer's own rate: a backlog of records inserted in one statement, chained by ``seal``.
At the end the whole chain (both kinds of rounds chained into one) is verified and its records
counted against the commits the writers made: no loss.

PostgreSQL's commit rate is bounded by the WAL flush too; ``synchronous_commit`` is reported as
found and never changed on the server. ``--async-extra`` adds one round of each with
``synchronous_commit = off`` set per writer session: an extra, labelled figure, not the headline.

Last line: {"bench":"audit","writers":4,"sealer_commits_per_s":…,"trigger_commits_per_s":…,
"ratio":…,"plain_commits_per_s":…,"sealer_records_per_s_backlog":…,"window_p99_s":…,
"window_max_s":…,"unsealed_at_end":…,"writer_waits":{…},…}
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
from collections import Counter

import psycopg
from _harness import fresh_database, log, machine
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from gateway.adapters.db import MIGRATIONS_DIR, migrate
from gateway.adapters.db import audit as audit_db
from gateway.config import Settings
from gateway.domain.audit_chain import ChainWalk

WRITERS = 4
ROUND_SECONDS = 5.0
ROUNDS = 4  # of each kind, alternating: 20 s of each, both sides seeing the same noisy machine
BACKLOG = 50_000


def old_trigger() -> str:
    """0010_audit_chain.sql's trigger, read from the migration itself (0023 dropped it), renamed
    and created disabled: for the comparison only, on the scratch database."""
    sql = (MIGRATIONS_DIR / "0010_audit_chain.sql").read_text()
    function = sql[sql.index("CREATE FUNCTION audit_record_chain()") :]
    return (
        function.replace("audit_record_chain()", "bench_audit_record_chain()").replace(
            "audit_record_chained", "bench_audit_record_chained"
        )
        + "\nALTER TABLE audit_record DISABLE TRIGGER bench_audit_record_chained;\n"
    )


def writer(url: str, seconds: float, n: int, label: str, async_commit: bool) -> int:
    """Commit one audit record per transaction until ``seconds`` have passed; returns the commits.
    In ``plain`` rounds the same row goes to a table with no chain: the server's commit ceiling."""
    with psycopg.connect(url, autocommit=True, application_name="bench-writer") as conn:
        if async_commit:
            conn.execute("SET synchronous_commit = off")
        commits, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            details = {"ins": time.time(), "n": commits}
            with conn.transaction():
                if label.startswith("plain"):
                    conn.execute(
                        "INSERT INTO bench_plain (actor, action, details) VALUES (%s, %s, %s)",
                        (f"bench-{n}", label, Jsonb(details)),
                    )
                else:
                    audit_db.append_audit(conn, None, f"bench-{n}", label, details)
            commits += 1
    return commits


class WaitSampler:
    """What the writers' backends are doing, sampled from pg_stat_activity every 5 ms: the profile
    that says where a commit's time goes (on the head's row lock, on the WAL flush, on the CPU)."""

    def __init__(self, url: str) -> None:
        self.url, self.seen = url, Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> WaitSampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.005):
                for kind, event in conn.execute(
                    """SELECT wait_event_type, wait_event FROM pg_stat_activity
                        WHERE application_name = 'bench-writer' AND state = 'active'"""
                ).fetchall():
                    self.seen["CPU" if kind is None else f"{kind}:{event}"] += 1


class Sealer:
    """The relay's sealer, timed: ``seal`` every ``every`` seconds in a thread."""

    def __init__(self, url: str, every: float) -> None:
        self.url, self.every = url, every
        self.stop = threading.Event()
        self.sealed, self.busy_s, self.calls = 0, 0.0, 0
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> Sealer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            while not self.stop.wait(self.every):
                started = time.perf_counter()
                while (n := audit_db.seal(conn, 10_000)) > 0:
                    self.sealed += n
                    if n < 10_000:
                        break
                self.busy_s += time.perf_counter() - started
                self.calls += 1


def run_round(
    pool, url: str, label: str, async_commit: bool = False, waits: Counter | None = None
) -> tuple[float, int]:
    """One round of the writers: (commits a second, commits); their wait events added to ``waits``."""
    started = time.perf_counter()
    args = [(url, ROUND_SECONDS, n, label, async_commit) for n in range(WRITERS)]
    with WaitSampler(url) as sampler:
        commits = sum(pool.starmap(writer, args))
    if waits is not None:
        waits.update(sampler.seen)
    return commits / (time.perf_counter() - started), commits


def set_trigger(url: str, on: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE audit_record {'ENABLE' if on else 'DISABLE'} TRIGGER bench_audit_record_chained"
        )


def windows(url: str, label: str) -> list[float]:
    """Seconds from each record's insert to its chaining, for one round's records."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT extract(epoch FROM at) - (details->>'ins')::float FROM audit_record
                WHERE action = %s AND id < %s""",
            (label, audit_db.PROVISIONAL_BASE),
        ).fetchall()
    return sorted(r[0] for r in rows)


def unsealed(url: str) -> int:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return audit_db.unchained(conn).records


def backlog_rate(url: str) -> float:
    """The sealer's own rate: a backlog inserted in one statement, then chained by ``seal``."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(
            """INSERT INTO audit_record (appeal_id, actor, action, details)
               SELECT gen_random_uuid(), 'bench', 'backlog', jsonb_build_object('n', g)
                 FROM generate_series(1, %s) g""",
            (BACKLOG,),
        )
        started, sealed = time.perf_counter(), 0
        while (n := audit_db.seal(conn, 10_000)) > 0:
            sealed += n
        assert sealed == BACKLOG, sealed
        return sealed / (time.perf_counter() - started)


def verified(url: str) -> tuple[int, bool]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        head, beyond = audit_db.chain_end(conn)
        walk = ChainWalk(head=head)
        for record in audit_db.chained_records(conn):
            if walk.add(record) is not None:
                break
        walk.finish(beyond)
    return walk.checked, walk.broken is None


def _shares(seen: Counter) -> dict[str, float]:
    total = sum(seen.values()) or 1
    return {k: round(v / total, 3) for k, v in seen.most_common(4)}


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else 0.0


def main() -> None:
    global ROUND_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--async-extra", action="store_true", help="also one round each, synchronous_commit off"
    )
    parser.add_argument("--seconds", type=float, default=ROUND_SECONDS, help="per round")
    args = parser.parse_args()
    extra = args.async_extra
    ROUND_SECONDS = args.seconds
    interval = Settings().audit_seal_interval_seconds
    with fresh_database() as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(old_trigger())
            conn.execute("CREATE TABLE bench_plain (LIKE audit_record INCLUDING DEFAULTS)")
            conn.execute("CREATE SEQUENCE bench_plain_id")
            conn.execute("ALTER TABLE bench_plain ALTER COLUMN id SET DEFAULT nextval('bench_plain_id')")
            conn.execute("ALTER TABLE bench_plain ADD PRIMARY KEY (id)")
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        log(f"{WRITERS} writers, {ROUNDS}×{ROUND_SECONDS:g} s per kind, alternating; "
            f"seal every {interval} s; "
            f"synchronous_commit={sync}")  # fmt: skip
        rates: dict[str, list[float]] = {"sealer": [], "trigger": [], "plain": []}
        waits: dict[str, Counter] = {k: Counter() for k in rates}
        commits_total, sealer_stats, window = 0, [], []
        with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
            warm = sum(pool.starmap(writer, [(url, 0.5, n, "warm-up", False) for n in range(WRITERS)]))
            with Sealer(url, interval):
                pass  # chains the warm-up
            for r in range(ROUNDS):
                with Sealer(url, interval) as sealer:
                    rate, commits = run_round(pool, url, f"sealer-{r}", waits=waits["sealer"])
                    left = unsealed(url)
                sealer_stats.append((sealer.sealed, sealer.busy_s, left))
                rates["sealer"].append(rate)
                window += windows(url, f"sealer-{r}")
                set_trigger(url, True)
                rate_t, commits_t = run_round(pool, url, f"trigger-{r}", waits=waits["trigger"])
                set_trigger(url, False)
                rates["trigger"].append(rate_t)
                rates["plain"].append(run_round(pool, url, f"plain-{r}", waits=waits["plain"])[0])
                commits_total += commits + commits_t
                log(f"round {r}: sealer {rate:,.0f} commits/s ({left} unsealed when writers stopped); "
                    f"trigger {rate_t:,.0f}; no audit at all {rates['plain'][-1]:,.0f}")  # fmt: skip
            async_rates = {}
            if extra:
                with Sealer(url, interval):
                    async_rates["sealer"], c1 = run_round(pool, url, "async-sealer", async_commit=True)
                set_trigger(url, True)
                async_rates["trigger"], c2 = run_round(pool, url, "async-trigger", async_commit=True)
                set_trigger(url, False)
                commits_total += c1 + c2
                log(f"EXTRA, synchronous_commit=off per session: sealer {async_rates['sealer']:,.0f}, "
                    f"trigger {async_rates['trigger']:,.0f} commits/s")  # fmt: skip
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            while audit_db.seal(conn, 10_000) > 0:
                pass
        left_at_end = unsealed(url)
        records, intact = verified(url)
        lost = commits_total + warm - records
        seal_rate = backlog_rate(url)
    sealed = sum(s for s, _, _ in sealer_stats)
    busy = sum(b for _, b, _ in sealer_stats)
    sealer_rate, trigger_rate, plain_rate = (sum(v) / len(v) for v in rates.values())
    result = {
        "bench": "audit",
        "writers": WRITERS,
        "seconds_per_round": ROUND_SECONDS,
        "rounds_each": ROUNDS,
        "seal_interval_s": interval,
        "synchronous_commit": sync,
        "sealer_commits_per_s": round(sealer_rate),
        "trigger_commits_per_s": round(trigger_rate),
        "ratio": round(sealer_rate / trigger_rate, 2),
        "plain_commits_per_s": round(plain_rate),
        "sealer_of_plain": round(sealer_rate / plain_rate, 2),
        "sealer_rounds": [round(v) for v in rates["sealer"]],
        "trigger_rounds": [round(v) for v in rates["trigger"]],
        "plain_rounds": [round(v) for v in rates["plain"]],
        "writer_waits": {k: _shares(c) for k, c in waits.items()},
        "sealer_records_per_s_busy": round(sealed / busy) if busy else None,
        "sealer_records_per_s_backlog": round(seal_rate),
        "window_p50_s": round(percentile(window, 0.5), 3),
        "window_p99_s": round(percentile(window, 0.99), 3),
        "window_max_s": round(window[-1], 3) if window else None,
        "unsealed_when_writers_stopped": [left for _, _, left in sealer_stats],
        "unsealed_at_end": left_at_end,
        "records": records,
        "lost": lost,
        "chain_intact": intact,
        **({"extra_synchronous_commit_off": {k: round(v) for k, v in async_rates.items()}} if extra else {}),
        "machine": machine(),
    }
    print(json.dumps(result))
    if lost or not intact or left_at_end:
        sys.exit(1)


if __name__ == "__main__":
    main()
