"""Ingest: signed appeals (~10 KB of text, no attachments) pushed concurrently to the hub as deployed,
once signed with RSA-2048 and once with GOST R 34.10-2012 (256, Streebog), in one run.

Per suite:
1. saturation — closed loop, 32 connections, 15 s: accepted appeals per second, and the hub's CPU
   (both uvicorn workers' user+system seconds, from /proc) per accepted appeal;
2. fixed rate — 200 appeals/s offered for 15 s, open loop: p50 / p99 latency from the scheduled send;
3. the floor — in this process, the necessary parts of one intake timed one by one (hardened parse,
   XSD, one exclusive C14N, the digest, the signature value, the chain, reading the Message, the
   store statement with its commit); their sum is the least any intake must spend per appeal.
   ``cpu_ratio`` = the hub's CPU per accepted appeal / the floor.

Envelopes are signed before the run, in two processes, each loading every key once.

Last line: {"bench":"ingest","rsa":{"accepted_per_s":…,"p50_ms":…,"p99_ms":…,"cpu_ms_per_appeal":…,
"floor_ms":…,"cpu_ratio":…,"steps_us":{…}},"gost-256":{…},"gost_rsa_intake_ratio":…}
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from _harness import log, machine, running_hub
from _load import closed_loop, open_loop, request_bytes
from _signed import median_us, take_apart
from lxml import etree

from gateway.adapters.pki import ensure_gost_dev_pki
from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.envelope import load_schema, q, read_message, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.suites import CLASSIC, GOST, Anchors
from gateway.config import PROJECT_ROOT
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_appeal

SATURATION_S = 15.0
SATURATION_MAX = 12000
RATE = 200.0
RATE_S = 15.0
FLOOR_N = 1000
TEXT_BYTES = 10_000
_TICKS = os.sysconf("SC_CLK_TCK")


def _sign_batch(args: tuple[bytes, bytes, int, int]) -> list[bytes]:
    """One process's share; ``sign_envelope`` parses each key once per process (``_private_key``,
    the GOST provider's key cache), so a batch costs only its signatures."""
    key_pem, cert_pem, start, count = args
    portal = Portal("EPGU", Signer(key_pem, cert_pem))
    return [portal.envelope(sample_appeal(start + i, text_size=TEXT_BYTES)) for i in range(count)]


def sign_many(key: Path, cert: Path, count: int) -> list[bytes]:
    key_pem, cert_pem = key.read_bytes(), cert.read_bytes()
    half = (count + 1) // 2
    with ProcessPoolExecutor(2) as pool:
        batches = pool.map(
            _sign_batch, [(key_pem, cert_pem, 0, half), (key_pem, cert_pem, half, count - half)]
        )
        return [e for batch in batches for e in batch]


def _cpu_seconds(parent_pid: int) -> float:
    """User + system CPU of the hub's worker processes (the children of the uvicorn supervisor)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent_pid:  # ppid
            total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    return total


def floor_steps(database_url: str, anchors: Anchors, suite, envelopes: list[bytes]) -> dict[str, float]:
    """The necessary parts of one intake, in µs, each timed alone on a real envelope of this suite."""
    raw = envelopes[0]
    schema = load_schema(PROJECT_ROOT / "schemas" / "appeal-envelope-1.xsd")
    p = take_apart(raw)
    signed_message = etree.fromstring(p.canonical)
    now = datetime.now(UTC)
    steps = {
        "hardened_parse": median_us(lambda: parse_hardened(raw, max_depth=48), 300),
        "xsd": median_us(lambda: validate(p.root, schema), 300),
        "c14n": median_us(lambda: etree.tostring(p.message, method="c14n", exclusive=True), 300),
        "digest": median_us(lambda: suite.digest(p.digest_method, p.canonical), 300),
        "signature": median_us(
            lambda: (
                etree.tostring(p.signed_info, method="c14n", exclusive=True),
                suite.verify_value(p.certificates[0], p.method, p.signed_bytes, p.value),
            ),
            300,
        ),
        "chain": median_us(lambda: suite.check_chain(p.certificates, anchors, now), 300),
        "read_message": median_us(lambda: (etree.fromstring(p.canonical), read_message(signed_message)), 300),
    }
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor_appeal (id uuid PRIMARY KEY, raw bytea, data text)")
        conn.commit()
        parsed = [
            read_message(
                etree.fromstring(
                    etree.tostring(
                        parse_hardened(e, max_depth=48).find(q("Message")), method="c14n", exclusive=True
                    )
                )
            )
            for e in envelopes
        ]
        start = time.perf_counter()
        for e, (header, appeal) in zip(envelopes, parsed, strict=True):
            conn.execute(
                "INSERT INTO floor_appeal VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (header.message_id, e, appeal.portal_appeal_id),
            )
        steps["store_statement"] = (time.perf_counter() - start) / len(envelopes) * 1e6
        # The commit waits for the WAL to reach the disk: time, not CPU, so it stays out of the floor
        # (the hub's workers do not spend CPU on it either); reported beside it.
        conn.execute("DELETE FROM floor_appeal")
        conn.commit()
        start = time.perf_counter()
        for _ in range(50):
            conn.execute("INSERT INTO floor_appeal VALUES (gen_random_uuid(), '', '')")
            conn.commit()
        commit_us = (time.perf_counter() - start) / 50 * 1e6 - steps["store_statement"]
    return {k: round(v, 1) for k, v in steps.items()}, round(commit_us, 1)


def prepare(bench, name: str, key: Path, cert: Path) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Signed envelopes as raw requests: (saturation requests, fixed-rate requests, floor envelopes)."""
    count = 2 * SATURATION_MAX + int(RATE * RATE_S) + FLOOR_N
    log(f"[{name}] signing {count} envelopes…")
    started = time.perf_counter()
    envelopes = sign_many(key, cert, count)
    took = time.perf_counter() - started
    log(f"  {len(envelopes)} envelopes of ~{len(envelopes[0]) // 1024} KB in {took:.1f} s")
    headers = {"Content-Type": "application/xml"}
    requests = [request_bytes(bench.url, "POST", "/portal/v1/appeals", e, headers) for e in envelopes]
    split = 2 * SATURATION_MAX
    return requests[:split], requests[split : split + int(RATE * RATE_S)], envelopes[-FLOOR_N:]


def saturate(bench, name: str, requests: list[bytes]) -> tuple[float, float]:
    """Accepted per second and the hub's CPU ms per accepted appeal, closed loop."""
    log(f"[{name}] saturation, 32 connections, {SATURATION_S:.0f} s…")
    cpu_before = _cpu_seconds(bench.process.pid)
    sat = asyncio.run(closed_loop(bench.url, iter(requests), 32, SATURATION_S))
    cpu = _cpu_seconds(bench.process.pid) - cpu_before
    accepted = sat.statuses.get(201, 0)
    accepted_per_s, cpu_ms = accepted / sat.elapsed_s, cpu / max(accepted, 1) * 1000
    log(f"  statuses {sat.statuses}; {accepted_per_s:.0f} accepted/s; {cpu_ms:.2f} ms CPU per appeal")
    return accepted_per_s, cpu_ms


def fixed_rate(bench, name: str, requests: list[bytes]):
    log(f"[{name}] {RATE:.0f}/s offered for {RATE_S:.0f} s…")
    fixed = asyncio.run(open_loop(bench.url, iter(requests), RATE, RATE_S, connections=64))
    p50, p99 = fixed.percentile(0.5), fixed.percentile(0.99)
    log(f"  statuses {fixed.statuses}; p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return fixed


def main() -> None:
    with running_hub(workers=2) as bench:
        gost_pki = ensure_gost_dev_pki(bench.pki)  # before the first push: workers read anchors lazily
        if gost_pki is None:
            sys.exit(gost.unavailable_reason())
        log(f"hub up at {bench.url}")
        suites = {
            "rsa": (bench.pki.portal_rsa_key, bench.pki.portal_rsa_cert, CLASSIC),
            "gost-256": (gost_pki.portal_key, gost_pki.portal_cert, GOST),
        }
        prepared = {name: prepare(bench, name, key, cert) for name, (key, cert, _) in suites.items()}
        # Saturation in the order A B B A, each suite's two runs averaged: the machine (shared) and
        # the growing tables drift during a run, and this order cancels a linear drift.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in suites}
        for i, name in enumerate(["rsa", "gost-256", "gost-256", "rsa"]):
            half = prepared[name][0][(i // 2) * SATURATION_MAX : (i // 2 + 1) * SATURATION_MAX]
            runs[name].append(saturate(bench, name, half))
        fixed = {name: fixed_rate(bench, name, prepared[name][1]) for name in suites}
        anchors = Anchors(bench.pki.trust_anchors.read_bytes())
        results = {}
        for name, (_, _, suite) in suites.items():
            steps, commit_us = floor_steps(bench.database_url, anchors, suite, prepared[name][2])
            floor_ms = sum(steps.values()) / 1000
            accepted_per_s = statistics.mean(r[0] for r in runs[name])
            cpu_ms = statistics.mean(r[1] for r in runs[name])
            log(f"[{name}] floor {floor_ms:.3f} ms: {steps}; commit wait {commit_us:.0f} µs")
            results[name] = {
                "accepted_per_s": round(accepted_per_s, 1),
                "accepted_per_s_runs": [round(r[0], 1) for r in runs[name]],
                "p50_ms": round(fixed[name].percentile(0.5), 2),
                "p99_ms": round(fixed[name].percentile(0.99), 2),
                "offered_per_s": round(len(fixed[name].latencies_ms) / fixed[name].elapsed_s, 1),
                "cpu_ms_per_appeal": round(cpu_ms, 3),
                "floor_ms": round(floor_ms, 3),
                "cpu_ratio": round(cpu_ms / floor_ms, 2),
                "steps_us": steps,
                "commit_wait_us": commit_us,
            }
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    ratio = results["gost-256"]["accepted_per_s"] / results["rsa"]["accepted_per_s"]
    cpu_ratio = results["rsa"]["cpu_ms_per_appeal"] / results["gost-256"]["cpu_ms_per_appeal"]
    print(
        json.dumps(
            {
                "bench": "ingest",
                **results,
                "gost_rsa_intake_ratio": round(ratio, 3),
                "gost_rsa_cpu_capacity_ratio": round(cpu_ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
