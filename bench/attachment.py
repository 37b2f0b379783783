"""Attachment: one 50 MB scan through intake and back out through the EDMS download.

The hub runs with one worker so its memory is one process's; RSS is sampled every 20 ms
from /proc. Growth is the peak during the transfers minus the RSS after a warm-up appeal.

Last line: {"bench":"attachment","mb_per_s":…,"peak_rss_growth_mb":…}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

import httpx
from _harness import log, machine, running_hub

from gateway.domain.model import AttachmentHeader
from gateway.simulators.edms import Edms
from gateway.simulators.portal import Portal, Signer, push
from gateway.simulators.samples import attachment_header, sample_appeal

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


def main() -> None:
    with running_hub(workers=1) as bench:
        hub_pid = bench.process.pid
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        scan_path = bench.workdir / "scan.bin"
        with scan_path.open("wb") as f:
            for _ in range(SIZE // (1024 * 1024)):
                f.write(os.urandom(1024 * 1024))
        digest = hashlib.sha256(scan_path.read_bytes()).hexdigest()
        with httpx.Client(base_url=bench.url, timeout=600) as client:
            edms = Edms(client, bench.tokens[AGENCY])
            # Warm-up: one small appeal with a small attachment through both directions.
            small = b"warm-up" * 100
            warm = attachment_header("a", "w.bin", "application/octet-stream", small)
            push(
                client,
                portal.envelope(sample_appeal(0, attachments=(warm,))),
                {"a": ("w.bin", small, "application/octet-stream")},
            )
            for m in edms.pull():
                for a in m["attachments"]:
                    edms.download(a["href"])
                edms.ack([m])
            baseline = rss_mb(hub_pid)
            log(f"hub RSS after warm-up: {baseline:.1f} MB; pushing {SIZE // 2**20} MB…")

            sampler = PeakSampler(hub_pid)
            sampler.start()
            header = AttachmentHeader("scan", "scan.bin", "application/octet-stream", SIZE, digest)
            start = time.perf_counter()
            with scan_path.open("rb") as f:
                response = push(
                    client,
                    portal.envelope(sample_appeal(1, attachments=(header,))),
                    {"scan": ("scan.bin", f, "application/octet-stream")},
                )
            response.raise_for_status()
            pushed = time.perf_counter()
            (message,) = edms.pull()
            size, got = edms.download(message["attachments"][0]["href"])
            done = time.perf_counter()
            peak = sampler.stop()
        if (size, got) != (SIZE, digest):
            raise SystemExit("the downloaded attachment differs from what was pushed")
        mb = SIZE / 2**20
        log(f"  push {mb / (pushed - start):.1f} MB/s, download {mb / (done - pushed):.1f} MB/s")
        log(f"  peak RSS {peak:.1f} MB (growth {peak - baseline:.1f} MB)")
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    result = {
        "bench": "attachment",
        "mb_per_s": round(2 * SIZE / 2**20 / (done - start), 1),
        "peak_rss_growth_mb": round(peak - baseline, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
