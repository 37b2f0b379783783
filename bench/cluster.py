"""Cluster: the hub as a region runs it — N hub nodes behind HAProxy, PostgreSQL as a primary with
a synchronous standby, the hubs given both in one multi-host URL (the cluster test's harness,
tests/cluster/harness.py) — measured with 1, 2 and 3 nodes on the same machine.

On one machine more nodes cannot mean more cores: what the figures show is what the balancer's
extra hop and several nodes sharing one database cost, not a speed-up. Each node serves with
``uvicorn --workers 2``, as it would on a two-core VM of its own.

Phases, for each node count:
1. ingest — signed appeals (~10 KB of text) through the balancer, closed loop, 32 connections;
   with one node also straight to the node, alternated with the balancer, best of two each, which
   prices the hop;
2. pull — a mailbox of 5,000 messages drained through the balancer, two pullers, lease + ack in
   batches of 100 over REST.
Then, with three nodes' worth of writers (3 processes × 4 connections) on the same database: the
audited-commit ceiling — commits of one audit record each, with and without the hash chain
(the chain serialises commits on its head row, which here includes the standby's flush); and
the same with the standby made asynchronous, which prices the synchronous standby.

Last line: {"bench":"cluster","nodes":{"1":{…},"2":{…},"3":{…}},"ingest_direct_per_s":…,
"audited_commits_per_s":…,"plain_commits_per_s":…,
"audited_commits_async_standby_per_s":…,"plain_commits_async_standby_per_s":…}
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the harness lives with the tests

from _harness import log, machine
from _load import closed_loop, request_bytes
from ingest import sign_many
from pull import drain_rest, fill

from gateway.adapters.db.audit import append_audit
from gateway.adapters.pki import ensure_dev_pki
from gateway.faces.cli.dev import write_dev_registry
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal
from tests.cluster.harness import region

NODE_COUNTS = (1, 2, 3)
INGEST_S = 10.0
HOP_ROUNDS = 2
CONNECTIONS = 32
SIGNED = 4000
MAILBOX = 5000
PULLERS = 2
CEILING_S = 8.0
CEILING_NODES = 3
WRITERS_PER_NODE = 4
AGENCY = "ADM-CHEBOKSARY"


def ingest(url: str, envelopes: list[bytes]) -> float:
    headers = {"Content-Type": "application/xml"}
    requests = iter([request_bytes(url, "POST", "/portal/v1/appeals", e, headers) for e in envelopes])
    result = asyncio.run(closed_loop(url, requests, CONNECTIONS, INGEST_S))
    accepted = result.statuses.get(201, 0)
    if accepted == len(envelopes):
        raise SystemExit("ran out of signed envelopes: raise SIGNED")
    log(f"  statuses {result.statuses}; {accepted / result.elapsed_s:.0f} accepted/s, "
        f"p99 {result.percentile(0.99):.1f} ms")  # fmt: skip
    return accepted / result.elapsed_s


def pull(database_url: str, url: str, token: str, raw: bytes) -> float:
    def one(_: int) -> int:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            return drain_rest(client)

    one(0)  # what the ingest phase left in the mailbox, untimed
    fill(database_url, raw, MAILBOX)
    start = time.perf_counter()
    with ThreadPoolExecutor(PULLERS) as pool:
        taken = sum(pool.map(one, range(PULLERS)))
    elapsed = time.perf_counter() - start
    if taken != MAILBOX:
        raise SystemExit(f"expected {MAILBOX} acknowledged, got {taken}")
    log(f"  {taken} acknowledged in {elapsed:.1f} s: {taken / elapsed:.0f} messages/s")
    return taken / elapsed


def _commit_loop(args: tuple[str, bool, int, float]) -> int:
    """One node's writers: ``threads`` connections committing one record each, until ``until``."""
    database_url, audited, threads, until = args
    counts = [0] * threads

    def writer(i: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while time.time() < until:
                with conn.transaction():
                    if audited:
                        append_audit(conn, None, "bench", "bench-commit", {"writer": i})
                    else:
                        conn.execute("INSERT INTO bench_plain_commit (writer) VALUES (%s)", (i,))
                counts[i] += 1

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts)


def commit_ceiling(database_url: str, audited: bool) -> float:
    """Commits a second from three nodes' writers together."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_plain_commit (id bigserial PRIMARY KEY, writer int)")
    until = time.time() + CEILING_S + 1  # a second for the processes to start and connect
    start = time.time()
    with ProcessPoolExecutor(CEILING_NODES) as pool:
        jobs = [(database_url, audited, WRITERS_PER_NODE, until)] * CEILING_NODES
        total = sum(pool.map(_commit_loop, jobs))
    rate = total / (time.time() - start)
    log(f"  {'audited' if audited else 'plain'}: {total} commits, {rate:.0f}/s")
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        pki = ensure_dev_pki(Path(tmp) / "pki")
        registry, tokens = write_dev_registry(Path(tmp) / "dev")
        portal = Portal("EPGU", Signer(pki.portal_rsa_key.read_bytes(), pki.portal_rsa_cert.read_bytes()))
        raw = portal.envelope(sample_appeal(1))
        figures: dict[str, dict[str, float]] = {}
        direct = 0.0
        audited = plain = audited_async = plain_async = 0.0
        for nodes in NODE_COUNTS:
            log(f"== {nodes} hub node(s): starting the region…")
            with region(hubs=nodes, registry=registry, trust_anchors=pki.trust_anchors,
                        operator_tokens_sha256=[], rabbits=False, serve_workers=2) as r:  # fmt: skip
                if nodes == 1:  # the hop: straight and through the balancer, alternated, best of each
                    straight, through = [], []
                    for _ in range(HOP_ROUNDS):
                        log(f"ingest straight to the node, {CONNECTIONS} connections, {INGEST_S:.0f} s…")
                        straight.append(ingest(r.hubs[0].url, sign_many(pki, SIGNED)))
                        log(f"ingest through the balancer, {CONNECTIONS} connections, {INGEST_S:.0f} s…")
                        through.append(ingest(r.url, sign_many(pki, SIGNED)))
                    direct, accepted = max(straight), max(through)
                else:
                    log(f"ingest through the balancer, {CONNECTIONS} connections, {INGEST_S:.0f} s…")
                    accepted = ingest(r.url, sign_many(pki, SIGNED))
                log(f"pull {MAILBOX} messages through the balancer, {PULLERS} pullers…")
                pulled = pull(r.postgres.url, r.url, tokens[AGENCY], raw)
                figures[str(nodes)] = {"ingest_per_s": round(accepted, 1),
                                       "pull_msgs_per_s": round(pulled, 1)}  # fmt: skip
                if nodes == CEILING_NODES:
                    log(f"commit ceiling: {CEILING_NODES} × {WRITERS_PER_NODE} writers, {CEILING_S:.0f} s…")
                    plain = commit_ceiling(r.postgres.url, audited=False)
                    audited = commit_ceiling(r.postgres.url, audited=True)
                    log("the same with the standby asynchronous (a commit waits for the local flush only)…")
                    r.postgres.set_synchronous(False)
                    plain_async = commit_ceiling(r.postgres.url, audited=False)
                    audited_async = commit_ceiling(r.postgres.url, audited=True)
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "cluster",
                "nodes": figures,
                "ingest_direct_per_s": round(direct, 1),
                "audited_commits_per_s": round(audited, 1),
                "plain_commits_per_s": round(plain, 1),
                "audited_commits_async_standby_per_s": round(audited_async, 1),
                "plain_commits_async_standby_per_s": round(plain_async, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
