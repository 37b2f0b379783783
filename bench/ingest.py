"""Ingest: signed appeals (~10 KB of text, no attachments) pushed concurrently to the hub as deployed.

Phases, in one run on the same kind of documents:
1. saturation — closed loop, 32 connections, 15 s: accepted appeals per second;
2. fixed rate — 200 appeals/s offered for 15 s, open loop: p50 / p99 latency from the scheduled send;
3. raw floor — in this process: parse + schema + verify + one INSERT and commit each, in a loop.

Last line: {"bench":"ingest","accepted_per_s":…,"p50_ms":…,"p99_ms":…,"offered_per_s":…,
"floor_per_s":…,"floor_ratio":…}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import psycopg
from _harness import log, machine, running_hub
from _load import closed_loop, open_loop, request_bytes

from gateway.adapters.pki import DevPki
from gateway.adapters.xmlsec.envelope import load_schema, read_message, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import EnvelopeVerifier
from gateway.config import PROJECT_ROOT
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal

SATURATION_S = 15.0
SATURATION_MAX = 12000
RATE = 200.0
RATE_S = 15.0
FLOOR_N = 1500
TEXT_BYTES = 10_000


def _sign_batch(args: tuple[DevPki, int, int]) -> list[bytes]:
    pki, start, count = args
    portal = Portal("EPGU", Signer(pki.portal_rsa_key.read_bytes(), pki.portal_rsa_cert.read_bytes()))
    return [portal.envelope(sample_appeal(start + i, text_size=TEXT_BYTES)) for i in range(count)]


def sign_many(pki: DevPki, count: int) -> list[bytes]:
    chunk = 500
    with ProcessPoolExecutor(2) as pool:
        batches = pool.map(_sign_batch, [(pki, i, min(chunk, count - i)) for i in range(0, count, chunk)])
        return [e for batch in batches for e in batch]


def raw_floor(database_url: str, pki: DevPki, envelopes: list[bytes]) -> float:
    """The least any intake must do per appeal, with no HTTP, routing or bookkeeping."""
    schema = load_schema(PROJECT_ROOT / "schemas" / "appeal-envelope-1.xsd")
    verifier = EnvelopeVerifier(pki.trust_anchors.read_bytes())
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_appeal (id uuid PRIMARY KEY, raw bytea, data text)")
        conn.commit()
        start = time.perf_counter()
        for raw in envelopes:
            root = parse_hardened(raw, max_depth=48)
            validate(root, schema)
            header, appeal = read_message(verifier.verify_portal(root).signed_element)
            conn.execute(
                "INSERT INTO floor_appeal VALUES (%s, %s, %s)",
                (header.message_id, raw, appeal.portal_appeal_id),
            )
            conn.commit()
        return len(envelopes) / (time.perf_counter() - start)


def main() -> None:
    with running_hub(workers=2) as bench:
        log(f"hub up at {bench.url}; signing {SATURATION_MAX + int(RATE * RATE_S) + FLOOR_N} envelopes…")
        envelopes = sign_many(bench.pki, SATURATION_MAX + int(RATE * RATE_S) + FLOOR_N)
        log(f"  {len(envelopes)} envelopes of ~{len(envelopes[0]) // 1024} KB signed")
        headers = {"Content-Type": "application/xml"}
        requests = [request_bytes(bench.url, "POST", "/portal/v1/appeals", e, headers) for e in envelopes]
        saturation_requests = iter(requests[:SATURATION_MAX])
        rate_requests = iter(requests[SATURATION_MAX : SATURATION_MAX + int(RATE * RATE_S)])

        log(f"phase 1: saturation, 32 connections, {SATURATION_S:.0f} s…")
        sat = asyncio.run(closed_loop(bench.url, saturation_requests, 32, SATURATION_S))
        accepted = sat.statuses.get(201, 0)
        accepted_per_s = accepted / sat.elapsed_s
        log(f"  statuses {sat.statuses}; {accepted_per_s:.0f} accepted/s; p99 {sat.percentile(0.99):.1f} ms")

        log(f"phase 2: {RATE:.0f}/s offered for {RATE_S:.0f} s…")
        fixed = asyncio.run(open_loop(bench.url, rate_requests, RATE, RATE_S, connections=64))
        offered = len(fixed.latencies_ms) / fixed.elapsed_s
        p50, p99 = fixed.percentile(0.5), fixed.percentile(0.99)
        log(f"  statuses {fixed.statuses}; p50 {p50:.1f} ms, p99 {p99:.1f} ms")

        log(f"phase 3: raw floor over {FLOOR_N} envelopes…")
        floor = raw_floor(bench.database_url, bench.pki, envelopes[-FLOOR_N:])
        log(f"  {floor:.0f}/s")
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "ingest",
                "accepted_per_s": round(accepted_per_s, 1),
                "p50_ms": round(fixed.percentile(0.5), 2),
                "p99_ms": round(fixed.percentile(0.99), 2),
                "offered_per_s": round(offered, 1),
                "floor_per_s": round(floor, 1),
                "floor_ratio": round(accepted_per_s / floor, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
