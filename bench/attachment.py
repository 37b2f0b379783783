"""Attachment: one 50 MB scan through intake and back out through the EDMS download, twice in one
run: the hub without an antivirus, then the hub scanning through clamd (Debian's, started here with
the tests' own signature database, ``tests/clamd.py``), so the scan's cost is the difference.

The hub runs with one worker so its memory is one process's; RSS is sampled every 20 ms
from /proc. Growth is the peak during the transfers minus the RSS after a warm-up appeal.
clamd's own INSTREAM rate on the same file, with no hub, is measured too.

Last line: {"bench":"attachment","mb_per_s":…,"peak_rss_growth_mb":…, …} (the first two: scan on)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _harness import log, machine, running_hub

from gateway.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # tests/clamd.py: the one clamd launcher, shared with the tests
from gateway.domain.model import AttachmentHeader
from gateway.simulators.edms import Edms
from gateway.simulators.portal import Portal, Signer, push
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.clamd import start_clamd

SIZE = 50 * 1024 * 1024
AGENCY = "ADM-CHEBOKSARY"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def write_scan(path: Path) -> str:
    """50 MB of random bytes behind a PDF header (intake types attachments by their bytes)."""
    with path.open("wb") as f:
        f.write(b"%PDF-1.4\n")
        for _ in range(SIZE // (1024 * 1024)):
            f.write(os.urandom(1024 * 1024))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def transfer(scan_path: Path, digest: str, **env: str) -> tuple[float, float, float]:
    """Push and download the scan through a fresh hub; (push MB/s, round trip MB/s, RSS growth MB)."""
    size = scan_path.stat().st_size
    with running_hub(workers=1, **env) as bench:
        hub_pid = bench.process.pid
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        with httpx.Client(base_url=bench.url, timeout=600) as client:
            edms = Edms(client, bench.tokens[AGENCY])
            # Warm-up: one small appeal with a small attachment through both directions.
            small = b"%PDF-1.4\nwarm-up" * 100
            warm = attachment_header("a", "w.pdf", "application/pdf", small)
            push(
                client,
                portal.envelope(sample_appeal(0, attachments=(warm,))),
                {"a": ("w.pdf", small, "application/pdf")},
            ).raise_for_status()
            for m in edms.pull():
                for a in m["attachments"]:
                    edms.download(a["href"])
                edms.ack([m])
            baseline = rss_mb(hub_pid)
            log(f"hub RSS after warm-up: {baseline:.1f} MB; pushing {SIZE // 2**20} MB…")

            sampler = PeakSampler(hub_pid)
            sampler.start()
            header = AttachmentHeader("scan", "scan.pdf", "application/pdf", size, digest)
            start = time.perf_counter()
            with scan_path.open("rb") as f:
                response = push(
                    client,
                    portal.envelope(sample_appeal(1, attachments=(header,))),
                    {"scan": ("scan.pdf", f, "application/pdf")},
                )
            response.raise_for_status()
            pushed = time.perf_counter()
            (message,) = edms.pull()
            got_size, got = edms.download(message["attachments"][0]["href"])
            done = time.perf_counter()
            peak = sampler.stop()
        if (got_size, got) != (size, digest):
            raise SystemExit("the downloaded attachment differs from what was pushed")
    mb = size / 2**20
    log(f"  push {mb / (pushed - start):.1f} MB/s, download {mb / (done - pushed):.1f} MB/s")
    log(f"  peak RSS {peak:.1f} MB (growth {peak - baseline:.1f} MB)")
    return mb / (pushed - start), 2 * mb / (done - start), peak - baseline


def clamd_rates(clamd, scan_path: Path) -> tuple[float, float]:
    """clamd's own INSTREAM rate on the file, no hub in between: the first scan after its start
    (noticeably slower: clamd warms up), and the best of three after it."""
    client = clamd.client(timeout=120)
    times = []
    for _ in range(4):
        with scan_path.open("rb") as f:
            start = time.perf_counter()
            verdict = client.scan(f)
            times.append(time.perf_counter() - start)
        if verdict.infected:
            raise SystemExit(f"clamd found {verdict.signature} in random bytes")
    mb = scan_path.stat().st_size / 2**20
    return mb / times[0], mb / min(times[1:])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-attachment-") as tmp:
        scan_path = Path(tmp) / "scan.pdf"
        digest = write_scan(scan_path)
        log("hub without antivirus:")
        off_push, off_rate, off_rss = transfer(scan_path, digest)
        clamd = start_clamd()
        try:
            first, raw = clamd_rates(clamd, scan_path)  # also warms clamd up, as a running one is
            log(f"clamd alone: first scan {first:.1f} MB/s, then {raw:.1f} MB/s")
            log("hub scanning through clamd:")
            on_push, on_rate, on_rss = transfer(scan_path, digest, GATEWAY_CLAMD_ADDRESS=clamd.socket)
        finally:
            clamd.stop()
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    result = {
        "bench": "attachment",
        "mb_per_s": round(on_rate, 1),
        "peak_rss_growth_mb": round(on_rss, 1),
        "push_mb_per_s": round(on_push, 1),
        "mb_per_s_no_scan": round(off_rate, 1),
        "peak_rss_growth_mb_no_scan": round(off_rss, 1),
        "push_mb_per_s_no_scan": round(off_push, 1),
        "clamd_instream_mb_per_s": round(raw, 1),
        "clamd_first_scan_mb_per_s": round(first, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
