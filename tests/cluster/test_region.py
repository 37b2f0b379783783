"""A region as deployed, on this machine: three hub nodes behind HAProxy, a three-node RabbitMQ
cluster carrying the delivery queue as a quorum queue, PostgreSQL as a primary with a
synchronous standby, the hubs given both servers in one multi-host URL (tests/cluster/harness.py).

Under a steady flow of pushes, pulls, acks and events (tests/cluster/traffic.py) three faults
strike one after another: a hub node is SIGKILLed, the RabbitMQ node leading the delivery queue
is stopped, the PostgreSQL primary dies and the standby is promoted. Then the promises are
checked: every push that got a 2xx is stored once and reaches the EDMS, no appeal comes back
after its acknowledgement, every update owed to the applicants reaches the cabinet (repeats
absorbed by its idempotency key), the audit chain verifies, and the periodic check that every
node's timer starts runs on one node. What each fault cost clients is
printed, whatever the outcome.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.rows import dict_row

from gateway.service.registry import hash_secret
from gateway.simulators.cabinet import FakeCabinet
from tests.cluster.harness import PG_BIN, RABBIT_BIN, region, say
from tests.cluster.traffic import Traffic
from tests.conftest import OPERATOR_TOKEN, _unavailable
from tests.e2e.processes import wait_for

AGENCY = "ADM-CHEBOKSARY"
QUEUE = "deliveries"
PHASE_S = 6.0  # traffic under each fault before the next (and before the first)


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [
        str(p) for p in (PG_BIN / "pg_basebackup", RABBIT_BIN / "rabbitmq-server") if not p.exists()
    ] + [name for name in ("haproxy", "epmd") if shutil.which(name) is None]
    if missing:
        _unavailable("the cluster's servers", FileNotFoundError(", ".join(missing)))


@pytest.fixture(scope="module")
def cabinet(dev_pki) -> Iterator[FakeCabinet]:
    with FakeCabinet(dev_pki.hub_cert.read_bytes()) as fake:
        yield fake


def test_a_region_keeps_its_promises_through_a_lost_node_broker_and_database(
    tools, dev_pki, registry, portal, cabinet, capsys
) -> None:
    worker_env = {
        "GATEWAY_CABINET_URL": cabinet.url,
        "GATEWAY_HUB_KEY": str(dev_pki.hub_key),
        "GATEWAY_HUB_CERTIFICATE": str(dev_pki.hub_cert),
        "GATEWAY_DELIVERY_QUEUE": QUEUE,
        "GATEWAY_DELIVERY_RETRY_BASE_SECONDS": "0.2",
        "GATEWAY_DELIVERY_RETRY_CAP_SECONDS": "1",
        "GATEWAY_DELIVERY_TIMEOUT_SECONDS": "5",
        # an attempt whose worker died, or whose outcome the lost primary never recorded, is taken
        # again once its claim runs out (the relay sweeps every 10 s): 120 s by default
        "GATEWAY_DELIVERY_CLAIM_SECONDS": "10",
        # one published but never claimed (its task lost with the broker's leader, or its claim's
        # transaction cut by the failover) is counted lost after this: 900 s by default
        "GATEWAY_DELIVERY_LOST_AFTER_SECONDS": "20",
        "GATEWAY_RELAY_POLL_SECONDS": "0.2",
        "GATEWAY_WORKER_CONCURRENCY": "2",
    }
    with region(
        hubs=3,
        registry=registry[0],
        trust_anchors=dev_pki.trust_anchors,
        operator_tokens_sha256=[hash_secret(OPERATOR_TOKEN)],
        worker_env=worker_env,
    ) as r:
        assert r.rabbits is not None
        cabinet.reset()
        cabinet.set_delay(0.2)  # a cabinet that takes its time: deliveries are in flight when faults strike
        traffic = Traffic(r.url, portal, registry[1][AGENCY])
        try:
            traffic.start()
            time.sleep(PHASE_S)
            # the delivery queue is a quorum queue with a member on every node
            assert r.rabbits.members(QUEUE) == sorted(n.name for n in r.rabbits.nodes)

            traffic.enter("hub node SIGKILLed")
            r.hubs[1].kill()
            time.sleep(PHASE_S)

            leader = r.rabbits.leader(QUEUE)
            traffic.enter("RabbitMQ queue leader stopped")
            r.rabbits.stop_node(leader)
            time.sleep(PHASE_S)
            assert r.rabbits.leader(QUEUE) != leader  # the other two elected a new leader

            traffic.enter("PostgreSQL primary lost, standby promoted")
            r.postgres.stop_primary()
            time.sleep(2)  # the least a monitor takes to decide
            r.postgres.promote_standby()
            time.sleep(PHASE_S)
            with psycopg.connect(r.postgres.url) as conn:  # the hubs' URL now leads to the standby
                assert conn.info.port == r.postgres.standby_port

            traffic.enter("after the faults (draining)")
            traffic.stop_pushing()
            wait_for(lambda: traffic.settled() or traffic.failures, 120, "the EDMS to take every appeal",
                     *r.logs())  # fmt: skip
            accepted = set(traffic.accepted.values())
            wait_for(lambda: all(_updates(cabinet, a) == {1, 2} for a in accepted), 120,
                     "every update at the cabinet", *r.logs())  # fmt: skip
        finally:
            traffic.stop()
            with capsys.disabled():
                stats = cabinet.stats()
                print(f"\n{traffic.summary()}\n  cabinet: {stats['calls']} calls, {stats['duplicates']} "
                      "repeats absorbed by the idempotency key", flush=True)  # fmt: skip

        assert not traffic.failures, traffic.failures
        assert len(accepted) == len(traffic.accepted)  # no two envelopes became one appeal
        with psycopg.connect(r.postgres.url, row_factory=dict_row) as conn:
            stored = [row["id"] for row in conn.execute("SELECT id::text FROM appeal")]
            mailbox = conn.execute(
                "SELECT count(*) AS messages, count(acked_at) AS acked, count(DISTINCT appeal_id) AS appeals"
                " FROM mailbox_message"
            ).fetchone()
        # stored exactly once: every appeal a 2xx named, and no other (a repeated push stored nothing new)
        assert sorted(stored) == sorted(accepted)
        assert mailbox == {"messages": len(accepted), "acked": len(accepted), "appeals": len(accepted)}
        # pulled and taken: every appeal reached the EDMS, none came back once acknowledged, and
        # only one whose acknowledgement did not get through at the first try came twice
        assert set(traffic.leased) == accepted and traffic.acked == accepted
        assert traffic.leased_after_ack == []
        assert {a for a, n in traffic.leased.items() if n > 1} <= traffic.ack_in_doubt
        # every update owed to the applicants reached the cabinet, each shown once
        for appeal_id in accepted:
            state = cabinet.state(appeal_id)
            assert state["state"] == "declined"
            assert sorted(r["update"]["seq"] for r in state["history"]) == [1, 2]
        deadline = time.monotonic() + 30  # the outbox records each outcome just after the cabinet's answer
        while (undelivered := _undelivered(r.postgres.url)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not undelivered, f"deliveries the outbox does not record as delivered: {undelivered}"
        verified = r.cli("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        say(verified.stdout.strip())
        # the periodic check, started by every node's timer at once, runs on one of them
        with ThreadPoolExecutor(len(r.hubs)) as pool:
            timers = list(pool.map(lambda _: r.cli("scheduled", "audit-verify", "--every", "hour"), r.hubs))
        assert [t.returncode for t in timers] == [0] * len(r.hubs), [t.stderr for t in timers]
        outputs = sorted(t.stdout for t in timers)
        assert sum("audit chain intact" in o for o in outputs) == 1, outputs
        assert sum("already claimed" in o for o in outputs) == len(r.hubs) - 1, outputs


def _updates(cabinet: FakeCabinet, appeal_id: str) -> set[int]:
    return {r.update["seq"] for r in cabinet.history(appeal_id)}


def _undelivered(url: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, appeal_id, seq, status, attempts, published_at, last_error FROM delivery"
            " WHERE connector = 'cabinet' AND status <> 'delivered'"
        ).fetchall()
