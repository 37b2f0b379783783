"""Scrape: what one Prometheus scrape of /metrics costs on a hub with history.

The history: bench/pull.py's 20,000 appeals (stored by the hub's own adapter), of which 18,000
settled (acknowledged and closed), 1,000 registered with answer dates spread over two months,
1,000 still pending; 20,000 cabinet updates, 19,700 delivered, 100 dead, 200 due, with 69,800
attempts spread over 30 days. The bench prepares it with plain SQL: it measures scraping, not how
the state came about. Then /metrics is scraped sequentially, as Prometheus does, and
/health/live likewise for the floor of any request to the same hub.

Last line: {"bench":"scrape","p50_ms":…,"p95_ms":…,"max_ms":…,"bytes":…,"health_live_p50_ms":…}
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import httpx
import psycopg
from _harness import log, machine, running_hub
from pull import AGENCY, fill

from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal

SCRAPES = 50

HISTORY = """
WITH ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM appeal)
UPDATE appeal a SET
    state = CASE WHEN r.n <= 18000 THEN 'closed' WHEN r.n <= 19000 THEN 'registered' ELSE 'routed' END,
    register_by = current_date + 3,
    answer_by = current_date - 30 + (r.n % 60)::int
FROM ranked r WHERE r.id = a.id;
UPDATE mailbox_message m SET acked_at = now(), last_leased_at = now(), delivery_count = 1
FROM appeal a WHERE a.id = m.appeal_id AND a.state <> 'routed';
INSERT INTO outbox_message (connector, appeal_id, seq, idempotency_key, payload, attempts,
                            published_at, delivered_at, dead_at, last_attempt_at)
SELECT 'cabinet', a.id, 1, 'bench:' || a.id, '{}'::jsonb,
       CASE WHEN n <= 19800 THEN 1 ELSE 0 END,
       CASE WHEN n <= 19800 THEN now() END,
       CASE WHEN n <= 19700 THEN now() END,
       CASE WHEN n > 19700 AND n <= 19800 THEN now() END,
       CASE WHEN n <= 19800 THEN now() END
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM appeal) a;
INSERT INTO delivery_attempt (outbox_id, attempt, started_at, finished_at, outcome)
SELECT id, 1, t, t, CASE WHEN dead_at IS NOT NULL THEN 'dead' ELSE 'delivered' END
FROM (SELECT *, now() - random() * interval '30 days' AS t FROM outbox_message WHERE attempts = 1) o;
INSERT INTO delivery_attempt (outbox_id, attempt, started_at, finished_at, outcome)
SELECT o.id, 1 + k, t, t, 'retry'
FROM (SELECT id, now() - random() * interval '30 days' AS t FROM outbox_message
       WHERE delivered_at IS NOT NULL ORDER BY id LIMIT 10000) o,
     generate_series(1, 5) k;
ANALYZE;
"""


def _timed(client: httpx.Client, path: str) -> tuple[list[float], int]:
    """Sorted latencies (ms) of SCRAPES sequential GETs, after one to warm up; and the body's size."""
    client.get(path).raise_for_status()
    timings, size = [], 0
    for _ in range(SCRAPES):
        start = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return sorted(timings), size


def main() -> None:
    with running_hub(workers=1) as bench:
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        log(f"storing 20,000 appeals for {AGENCY} and their history…")
        fill(bench.database_url, portal.envelope(sample_appeal(1)))
        with psycopg.connect(bench.database_url, autocommit=True) as conn:
            conn.execute(HISTORY)
        with httpx.Client(base_url=bench.url, timeout=30) as client:
            timings, size = _timed(client, "/metrics")
            baseline, _ = _timed(client, "/health/live")
    log(f"  {SCRAPES} scrapes: p50 {statistics.median(timings):.1f} ms, max {timings[-1]:.1f} ms")
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    result = {
        "bench": "scrape",
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(0.95 * len(timings)) - 1], 1),
        "max_ms": round(timings[-1], 1),
        "bytes": size,
        "health_live_p50_ms": round(statistics.median(baseline), 1),  # the same hub's floor per request
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
