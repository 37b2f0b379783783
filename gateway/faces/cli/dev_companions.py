"""What `serve --dev` starts beside the hub, so `make run` shows the whole return path on one
laptop: the delivery worker (with its relay) on the embedded broker, and a fake citizen's cabinet
receiving the hub's signed status updates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from gateway.config import Settings

DEV_CABINET_PORT = 8091


def start_companions(settings: Settings, database_url: str) -> list[subprocess.Popen[bytes]]:
    """Start the fake cabinet and `appeals-gateway worker`; their output goes to var/dev/*.log."""
    logs = settings.data_dir / "dev"
    logs.mkdir(parents=True, exist_ok=True)
    cabinet_url = settings.cabinet_url or f"http://127.0.0.1:{DEV_CABINET_PORT}"
    env = {**os.environ, "DATABASE_URL": database_url, "GATEWAY_CABINET_URL": cabinet_url}
    children = []
    if not settings.cabinet_url:
        cabinet = [sys.executable, "-m", "gateway.simulators.cabinet", "--port", str(DEV_CABINET_PORT)]
        cabinet += [
            "--hub-cert",
            str(settings.hub_certificate_file),
            "--contract",
            str(settings.cabinet_contract),
        ]
        children.append(_start(cabinet, env, logs / "cabinet.log"))
        typer.echo(f"fake citizen's cabinet on {cabinet_url} (its view: {cabinet_url}/_state/<appeal id>)")
    worker = [sys.executable, "-m", "gateway.faces.cli.main", "worker"]
    children.append(_start(worker, env, logs / "worker.log"))
    typer.echo(f"delivery worker and relay on {settings.broker} (log: {logs / 'worker.log'})")
    return children


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_companions(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
