"""What every bench needs: a fresh database, a dev PKI and registry, and the hub as deployed.

``DATABASE_URL`` set → a fresh database is created on that server and dropped afterwards;
unset → the embedded PostgreSQL under ``var/bench-pg``. The hub runs as it would in
production: ``appeals-gateway serve --workers N`` (uvicorn worker processes, each on its own
``SO_REUSEPORT`` socket) on a real port.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from kombu import Connection

from gateway.adapters.db import migrate, start_embedded
from gateway.adapters.pki import DevPki, ensure_dev_pki
from gateway.config import PROJECT_ROOT, Settings
from gateway.faces.cli.dev import write_dev_registry
from gateway.service.hub import open_hub
from gateway.service.registry import hash_secret, load_registry

OPERATOR_TOKEN = "bench-operator"  # noqa: S105 (a throwaway token for a throwaway hub)


@dataclass
class Bench:
    url: str
    database_url: str
    pki: DevPki
    tokens: dict[str, str]
    workdir: Path
    process: subprocess.Popen


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    server = os.environ.get("DATABASE_URL") or start_embedded(PROJECT_ROOT / "var" / "bench-pg")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_hub(workers: int = 2, log_to_file: bool = False, **env_overrides: str) -> Iterator[Bench]:
    """A migrated database with the example registry, and the hub serving it with ``workers`` processes
    (its log lines on this stderr, or in ``hub.log`` in the work directory with ``log_to_file``)."""
    with fresh_database() as database_url, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        pki = ensure_dev_pki(workdir / "pki")
        registry_path, tokens = write_dev_registry(workdir / "dev")
        migrate(database_url)
        settings = Settings(database_url=database_url, data_dir=workdir, trust_anchors=pki.trust_anchors)
        hub = open_hub(settings, apply_migrations=False)
        load_registry(hub, registry_path, actor="bench")
        hub.close()
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GATEWAY_DATA_DIR": str(workdir),
            "GATEWAY_TRUST_ANCHORS": str(pki.trust_anchors),
            "GATEWAY_OPERATOR_TOKENS_SHA256": json.dumps([hash_secret(OPERATOR_TOKEN)]),
            **env_overrides,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.faces.cli.main", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--workers", str(workers)],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=(workdir / "hub.log").open("wb") if log_to_file else None,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, proc)
            yield Bench(url, database_url, pki, tokens, workdir, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextlib.contextmanager
def running_worker(bench: Bench, cabinet_url: str, concurrency: int = 2) -> Iterator[subprocess.Popen]:
    """``appeals-gateway worker`` (Celery processes and the relay) delivering ``bench``'s outbox to
    ``cabinet_url`` on a queue of its own, which is deleted afterwards. Needs RabbitMQ (BROKER_URL)."""
    broker = os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    queue = f"deliveries-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": bench.database_url,
        "BROKER_URL": broker,
        "GATEWAY_DATA_DIR": str(bench.workdir),
        "GATEWAY_DELIVERY_QUEUE": queue,
        "GATEWAY_CABINET_URL": cabinet_url,
        "GATEWAY_HUB_KEY": str(bench.pki.hub_key),
        "GATEWAY_HUB_CERTIFICATE": str(bench.pki.hub_cert),
        "GATEWAY_WORKER_CONCURRENCY": str(concurrency),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.faces.cli.main", "worker"], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=(bench.workdir / "worker.log").open("wb"),
    )  # fmt: skip
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        with Connection(broker) as conn:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.queue_delete(queue + ".dead")


def _wait_until_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the hub exited during start-up")
        try:
            httpx.get(url + "/schema/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the hub did not start within 60 s")


def log(message: str) -> None:
    """Progress goes to stderr; stdout's last line is the JSON result."""
    print(message, file=sys.stderr, flush=True)
