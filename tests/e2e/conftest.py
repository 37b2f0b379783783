"""End-to-end: the hub as deployed — a uvicorn process on a real socket — driven by real HTTP clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from tests.conftest import _free_port


@pytest.fixture(scope="session")
def hub_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ``hub_url`` process writes its log lines (JSON, INFO and up)."""
    return tmp_path_factory.mktemp("hub") / "hub.log"


@pytest.fixture(scope="session")
def hub_url(settings, session_hub, hub_log: Path) -> Iterator[str]:
    """Base URL of a hub process serving the test database (registry already loaded)."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_TRUST_ANCHORS": str(settings.trust_anchors),
        "GATEWAY_OPERATOR_TOKENS_SHA256": json.dumps(settings.operator_tokens_sha256),
        "GATEWAY_TRUST_CLIENT_CERT_HEADER": "true",
    }
    log_path = hub_log
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "gateway.faces.rest.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
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
        yield url
        proc.terminate()
        proc.wait(timeout=10)
