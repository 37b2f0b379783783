"""``serve --workers 2``: both worker processes get a fair share of the connections.

Each worker listens on its own ``SO_REUSEPORT`` socket (``gateway/faces/cli/serving.py``); the
kernel picks one by a hash over the connection's addresses and ports. Counted, not timed: 32
keep-alive connections from distinct source ports, two requests on each, and which worker
process (``pid`` in the access line) served each request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from tests.conftest import _free_port
from tests.e2e.conftest import hub_env

CONNECTIONS = 32
FAIR_SHARE = CONNECTIONS // 4  # each of two workers: at least a quarter (the hash is not a round robin)


def _listening(port: int) -> int:
    """Sockets listening on ``port`` (``/proc/net/tcp``: local address, state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A")


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]


@pytest.fixture
def two_workers(settings, session_hub, tmp_path):
    """``appeals-gateway serve --workers 2`` on a free port; yields its URL and its log, once
    both workers listen."""
    port, log = _free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.faces.cli.main", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "2"],
            cwd=PROJECT_ROOT, env=hub_env(settings, GATEWAY_LOG_LEVEL="INFO"), stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # two cores shared with other test runs start slowly
        while _listening(port) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_connections_are_spread_over_both_workers(two_workers):
    url, log = two_workers
    clients = [httpx.Client(base_url=url, limits=httpx.Limits(max_connections=1)) for _ in range(CONNECTIONS)]
    try:
        for n, client in enumerate(clients):  # all connections open at once, each used twice
            client.get("/spread", headers={"X-Request-Id": f"spread-{n}-a"})
        for n, client in enumerate(clients):
            client.get("/spread", headers={"X-Request-Id": f"spread-{n}-b"})
    finally:
        for client in clients:
            client.close()
    deadline = time.monotonic() + 30
    while True:
        served = {
            r["request_id"]: r["pid"]
            for r in _records(log)
            if r["logger"] == "gateway.access" and r.get("request_id", "").startswith("spread-")
        }
        if len(served) == 2 * CONNECTIONS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(served) == 2 * CONNECTIONS
    # keep-alive: a connection stays with the worker that accepted it
    assert all(served[f"spread-{n}-a"] == served[f"spread-{n}-b"] for n in range(CONNECTIONS))
    per_worker = Counter(served[f"spread-{n}-a"] for n in range(CONNECTIONS))
    print("connections per worker:", sorted(per_worker.values()))  # shown with -s
    assert len(per_worker) == 2, per_worker
    assert min(per_worker.values()) >= FAIR_SHARE, per_worker
