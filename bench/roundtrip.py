"""Roundtrip: EDMS events → the citizen's cabinet, through the outbox, the relay, RabbitMQ and two
Celery worker processes, at a steady 100 events/s for 60 s.

Appeals are put in ADM-CHEBOKSARY's mailbox and taken over REST first (not measured). Then the
bench offers events open-loop on schedule — registered, assigned, declined, closed for each
appeal, the same appeal's events 15 s apart — and the fake cabinet (on a real socket, in this
process) notes when each signed update arrives. Latency is from the moment the EDMS sent the
event to the moment the cabinet had the update; ``lost`` counts updates that never arrived.

Needs RabbitMQ (BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//).
Last line: {"bench":"roundtrip","events_per_s":…,"p50_ms":…,"p99_ms":…,"lost":0}
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import httpx
import psycopg
from _harness import log, machine, running_hub, running_worker
from pull import AGENCY, drain_rest, fill

from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal

RATE = 100  # events per second offered
DURATION = 60  # seconds
EVENTS = ("registered", "assigned", "declined", "closed")
APPEALS = RATE * DURATION // len(EVENTS)
SENDERS = 16


def _fields(kind: str, appeal_id: str) -> dict[str, str]:
    return {
        "registered": {"registration_number": f"RT-{appeal_id[:13]}", "registered_on": str(date.today())},
        "assigned": {"executor": "Отдел ЖКХ"},
        "declined": {"ground": "no-question"},
        "closed": {},
    }[kind]


def offer(url: str, token: str, appeal_ids: list[str]) -> dict[tuple[str, int], float]:
    """Send every event on schedule; returns when each (appeal, seq) was sent (wall clock)."""
    sent: dict[tuple[str, int], float] = {}
    lock = threading.Lock()
    local = threading.local()
    start = time.monotonic() + 0.5

    def send(k: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
        appeal_id, kind = appeal_ids[k % APPEALS], EVENTS[k // APPEALS]
        delay = start + k / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        body = {"event_id": f"rt-{k}", "type": kind, **_fields(kind, appeal_id)}
        response = client.post(f"/sed/v1/appeals/{appeal_id}/events", json=body)
        response.raise_for_status()
        with lock:
            sent[(appeal_id, response.json()["seq"])] = at

    with ThreadPoolExecutor(SENDERS) as pool:
        for future in [pool.submit(send, k) for k in range(APPEALS * len(EVENTS))]:
            future.result()
    return sent


def main() -> None:
    with running_hub(workers=2) as bench, FakeCabinet(bench.pki.hub_cert.read_bytes()) as cabinet:
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        log(f"putting {APPEALS} appeals in {AGENCY}'s mailbox and taking them over REST…")
        fill(bench.database_url, portal.envelope(sample_appeal(1)), APPEALS)
        token = bench.tokens[AGENCY]
        with httpx.Client(base_url=bench.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            drain_rest(c)
        with psycopg.connect(bench.database_url) as conn:
            appeal_ids = [str(r[0]) for r in conn.execute("SELECT id FROM appeal ORDER BY id")]
        with running_worker(bench, cabinet.url):
            time.sleep(5)  # the worker's start-up is not what is measured
            log(f"offering {RATE} events/s for {DURATION} s ({APPEALS * len(EVENTS)} events)…")
            sent = offer(bench.url, token, appeal_ids)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _arrived(cabinet, sent) < len(sent):
                time.sleep(0.5)
        latencies, last = [], 0.0
        for (appeal_id, seq), at in sent.items():
            arrived = [r for r in cabinet.history(appeal_id) if r.update["seq"] == seq]
            if arrived:
                when = datetime.fromisoformat(arrived[0].received_at).timestamp()
                latencies.append((when - at) * 1000)
                last = max(last, when)
        first = min(sent.values())
    print(json.dumps({"machine": machine(), "duplicates_absorbed": cabinet.duplicates}), file=sys.stderr)
    quantiles = statistics.quantiles(latencies, n=100)
    print(json.dumps({
        "bench": "roundtrip",
        "events_per_s": round(len(latencies) / (last - first), 1),
        "p50_ms": round(quantiles[49], 1),
        "p99_ms": round(quantiles[98], 1),
        "lost": len(sent) - len(latencies),
    }))  # fmt: skip


def _arrived(cabinet: FakeCabinet, sent: dict[tuple[str, int], float]) -> int:
    return sum(
        1 for appeal_id, seq in sent if any(r.update["seq"] == seq for r in cabinet.history(appeal_id))
    )


if __name__ == "__main__":
    main()
