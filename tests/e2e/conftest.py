"""End-to-end: the hub as deployed — a uvicorn process on a real socket — driven by real HTTP clients."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kombu import Connection

from gateway.config import PROJECT_ROOT
from tests.conftest import _free_port


@pytest.fixture(scope="session")
def hub_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ``hub_url`` process writes its log lines (JSON, INFO and up)."""
    return tmp_path_factory.mktemp("hub") / "hub.log"


def hub_env(settings, **extra: str) -> dict[str, str]:
    """The environment of a hub process serving the test database (``hub_url``, ``hub_process``)."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_TRUST_ANCHORS": str(settings.trust_anchors),
        "GATEWAY_OPERATOR_TOKENS_SHA256": json.dumps(settings.operator_tokens_sha256),
        "GATEWAY_TRUST_CLIENT_CERT_HEADER": "true",
        **extra,
    }


@contextlib.contextmanager
def hub_process(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A hub (uvicorn) process on a free port of its own, stopped after; yields its base URL."""
    port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "gateway.faces.rest.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
             "--no-proxy-headers"],  # as `serve` runs it: gateway/faces/proxy.py decides
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/schema/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"the hub did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def hub_url(settings, session_hub, hub_log: Path) -> Iterator[str]:
    """Base URL of a hub process serving the test database (registry already loaded)."""
    with hub_process(hub_env(settings), hub_log) as url:
        yield url


@pytest.fixture
def worker_env(settings, broker_url) -> Iterator[dict[str, str]]:
    """What `appeals-gateway worker` and `relay` run with in tests: this run's database, a queue of
    the test's own (deleted before, so nothing of an earlier run is in it), quick retries."""
    queue = f"deliveries-test-{uuid.uuid4().hex[:8]}"
    yield {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DELIVERY_QUEUE": queue,
        "GATEWAY_DELIVERY_RETRY_BASE_SECONDS": "0.2",
        "GATEWAY_DELIVERY_RETRY_CAP_SECONDS": "1",
        "GATEWAY_DELIVERY_TIMEOUT_SECONDS": "10",
        # a killed worker's claim runs out soon (the task's time limit is held within it)
        "GATEWAY_DELIVERY_CLAIM_SECONDS": "10",
        "GATEWAY_RELAY_POLL_SECONDS": "0.2",
        "GATEWAY_WORKER_CONCURRENCY": "2",
    }
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        for name in (queue, queue + ".dead"):
            with contextlib.suppress(Exception):  # never declared in this test: nothing to clean
                channel.queue_delete(name)
