"""Roundtrip: EDMS events → the citizen's cabinet, through the outbox, the relay, RabbitMQ and two
Celery worker processes, at a steady 100 events/s for 60 s.

Appeals are put in ADM-CHEBOKSARY's mailbox and taken over REST first (not measured). Then the
bench offers events open-loop on schedule — registered, assigned, declined, closed for each
appeal, the same appeal's events 15 s apart — and the fake cabinet (on a real socket, in this
process) notes when each signed update arrives. Latency is from the moment the EDMS sent the
event to the moment the cabinet had the update; ``lost`` counts updates that never arrived.

Beside it, the floor under that latency: the first ``FLOOR_CALLS`` of the same updates, read from
the outbox as the worker read them, each handed straight to the cabinet connector
(``connectors/portal/cabinet_rest.py``: sign, PUT, read the answer) one at a time against a fresh
fake cabinet — no outbox poll, relay, RabbitMQ or Celery. What the hub's p50 and p99 add above
``floor_p50_ms`` is the pipeline's own cost.

Where the time goes, per delivered update (``stages_p50_ms`` / ``stages_p99_ms``, and
``tail_stages_ms``: each stage's mean over the slowest 1 % of updates), from the bench's clock and
the timestamps the hub writes anyway: ``answered`` (the EDMS's call, until its 2xx), ``queued``
(the call's start until the outbox row was written, ``outbox_message.created_at``), ``published``
(until the relay marked it published, ``published_at``: the relay's wake-up and the broker's
confirm), ``claimed`` (until a Celery worker claimed the attempt, ``delivery_attempt.started_at``:
the broker, the worker's prefetch, the row lock the relay's commit releases) and ``delivered``
(until the cabinet had it: reading the message, signing, the PUT).

Needs RabbitMQ (BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//).
Last line: {"bench":"roundtrip","events_per_s":…,"p50_ms":…,"p99_ms":…,"lost":0,
"floor_p50_ms":…,"floor_p99_ms":…,"stages_p50_ms":{…},"stages_p99_ms":{…},"tail_stages_ms":{…}}
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
from _harness import Bench, log, machine, running_hub, running_worker
from psycopg.rows import dict_row
from pull import AGENCY, drain_rest, fill

from connectors.portal.cabinet_rest import CabinetRestConnector
from gateway.domain.delivery import OutgoingMessage
from gateway.service.cabinet_updates import CABINET
from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal

RATE = 100  # events per second offered
DURATION = 60  # seconds
EVENTS = ("registered", "assigned", "declined", "closed")
APPEALS = RATE * DURATION // len(EVENTS)
SENDERS = 16
FLOOR_CALLS = 1000


def _fields(kind: str, appeal_id: str) -> dict[str, str]:
    return {
        "registered": {"registration_number": f"RT-{appeal_id[:13]}", "registered_on": str(date.today())},
        "assigned": {"executor": "Отдел ЖКХ"},
        "declined": {"ground": "no-question"},
        "closed": {},
    }[kind]


def offer(
    url: str, token: str, appeal_ids: list[str]
) -> tuple[dict[tuple[str, int], float], dict[tuple[str, int], float]]:
    """Send every event on schedule; returns when each (appeal, seq) was sent and when its answer
    came (wall clock)."""
    sent: dict[tuple[str, int], float] = {}
    answered: dict[tuple[str, int], float] = {}
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
        done = time.time()
        with lock:
            sent[(appeal_id, response.json()["seq"])] = at
            answered[(appeal_id, response.json()["seq"])] = done

    with ThreadPoolExecutor(SENDERS) as pool:
        for future in [pool.submit(send, k) for k in range(APPEALS * len(EVENTS))]:
            future.result()
    return sent, answered


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
            sent, answered = offer(bench.url, token, appeal_ids)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _arrived(cabinet, sent) < len(sent):
                time.sleep(0.5)
        latencies, last, stages = [], 0.0, []
        marks = _marks(bench.database_url)
        for (appeal_id, seq), at in sent.items():
            arrived = [r for r in cabinet.history(appeal_id) if r.update["seq"] == seq]
            if arrived:
                when = datetime.fromisoformat(arrived[0].received_at).timestamp()
                latencies.append((when - at) * 1000)
                last = max(last, when)
                stages.append(_stages(at, answered[(appeal_id, seq)], marks.get((appeal_id, seq)), when))
        first = min(sent.values())
        log(f"the floor: {FLOOR_CALLS} of the same updates, one direct signed call each…")
        floor = statistics.quantiles(direct_calls(bench), n=100)
    print(json.dumps({"machine": machine(), "duplicates_absorbed": cabinet.duplicates}), file=sys.stderr)
    quantiles = statistics.quantiles(latencies, n=100)
    tail = [s for s, ms in zip(stages, latencies, strict=True) if ms >= quantiles[98] and s]
    print(json.dumps({
        "bench": "roundtrip",
        "events_per_s": round(len(latencies) / (last - first), 1),
        "p50_ms": round(quantiles[49], 1),
        "p99_ms": round(quantiles[98], 1),
        "lost": len(sent) - len(latencies),
        "floor_p50_ms": round(floor[49], 1),
        "floor_p99_ms": round(floor[98], 1),
        "stages_p50_ms": {k: _quantile([s[k] for s in stages if s], 49) for k in STAGES},
        "stages_p99_ms": {k: _quantile([s[k] for s in stages if s], 98) for k in STAGES},
        "tail_stages_ms": {k: round(statistics.fmean(s[k] for s in tail), 1) for k in STAGES} if tail else {},
    }))  # fmt: skip


def direct_calls(bench: Bench) -> list[float]:
    """Milliseconds per call of the cabinet connector alone, on updates the hub really produced."""
    with psycopg.connect(bench.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id, appeal_id, seq, idempotency_key, payload, created_at FROM outbox_message"
            " WHERE connector = %s ORDER BY id LIMIT %s",
            (CABINET, FLOOR_CALLS),
        ).fetchall()
    timings = []
    with (
        FakeCabinet(bench.pki.hub_cert.read_bytes()) as cabinet,
        CabinetRestConnector(
            cabinet.url, bench.pki.hub_key.read_bytes(), bench.pki.hub_cert.read_bytes()
        ) as rest,
    ):
        for row in rows:
            message = OutgoingMessage(connector=CABINET, attempt=1, **row)
            start = time.perf_counter()
            rest.deliver(message)
            timings.append((time.perf_counter() - start) * 1000)
        if cabinet.calls != len(rows) or cabinet.duplicates:
            raise SystemExit(f"{len(rows)} direct calls, the cabinet counted {cabinet.calls}")
    return timings


STAGES = ("answered", "queued", "published", "claimed", "delivered")


def _marks(database_url: str) -> dict[tuple[str, int], tuple[float, float, float]]:
    """When the hub wrote each cabinet update to its outbox, published it and a worker claimed
    its first attempt (wall clock, from the database's own timestamps)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT o.appeal_id, o.seq, extract(epoch FROM o.created_at),
                      extract(epoch FROM o.published_at), extract(epoch FROM a.started_at)
                 FROM outbox_message o
                 JOIN delivery_attempt a ON a.outbox_id = o.id AND a.attempt = 1
                WHERE o.connector = %s""",
            (CABINET,),
        ).fetchall()
    return {(str(r[0]), r[1]): (float(r[2]), float(r[3]), float(r[4])) for r in rows if r[3] is not None}


def _stages(
    sent: float, answered: float, marks: tuple[float, float, float] | None, arrived: float
) -> dict[str, float] | None:
    """One update's time in each stage, in milliseconds (None when the hub's marks are missing)."""
    if marks is None:
        return None
    created, published, claimed = marks
    points = (answered, created, published, claimed, arrived)
    starts = (sent, sent, created, published, claimed)
    return {k: (end - start) * 1000 for k, end, start in zip(STAGES, points, starts, strict=True)}


def _quantile(values: list[float], index: int) -> float | None:
    return round(statistics.quantiles(values, n=100)[index], 1) if len(values) > 1 else None


def _arrived(cabinet: FakeCabinet, sent: dict[tuple[str, int], float]) -> int:
    return sum(
        1 for appeal_id, seq in sent if any(r.update["seq"] == seq for r in cabinet.history(appeal_id))
    )


if __name__ == "__main__":
    main()
