"""The hub as an operator installs it: ``pip install`` of the wheel (not editable) into a fresh
venv, then the ``appeals-gateway`` command run from a directory that has nothing of the source
tree. Schemas, migrations and templates must come from the installed package, and the data
directory must not be under site-packages."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.adapters.db import MIGRATIONS_DIR
from tests.conftest import _free_port, _with_database
from tests.e2e.pushing import push_samples


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory far from the checkout, with a home of its own."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path


def _env(elsewhere: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no PYTHONPATH, no virtualenv of the checkout, no GATEWAY_ settings."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}
    return {**keep, "HOME": str(elsewhere / "home"), **extra}


def _run(installed_wheel, elsewhere: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed_wheel.command), *args], cwd=elsewhere / "work", env=_env(elsewhere, **env),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_command_runs_and_its_data_directory_is_not_in_site_packages(installed_wheel, elsewhere) -> None:
    helped = _run(installed_wheel, elsewhere, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "migrate" in helped.stdout
    made = _run(installed_wheel, elsewhere, "dev-pki")
    assert made.returncode == 0, made.stderr
    data_dir = elsewhere / "home" / ".local" / "share" / "appeals-gateway"
    assert (data_dir / "pki" / "hub.pem").is_file()
    assert not list(installed_wheel.site_packages.glob("var")) and not (elsewhere / "work" / "var").exists()
    xdg = _run(installed_wheel, elsewhere, "dev-pki", XDG_DATA_HOME=str(elsewhere / "xdg"))
    assert str(elsewhere / "xdg" / "appeals-gateway" / "pki") in xdg.stdout


def test_the_installed_migrations_build_an_empty_database(installed_wheel, elsewhere, server_url) -> None:
    name = f"gw_wheel_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrated = _run(installed_wheel, elsewhere, "migrate", DATABASE_URL=_with_database(server_url, name))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert migrated.returncode == 0, migrated.stderr
    every = sorted(path.stem for path in MIGRATIONS_DIR.glob("*.sql"))
    assert migrated.stdout.strip() == "applied: " + ", ".join(every)


def test_the_installed_hub_serves_takes_an_appeal_and_its_contract(
    installed_wheel, elsewhere, settings, session_hub, broker_url, portal
) -> None:
    port = _free_port()
    env = _env(
        elsewhere, DATABASE_URL=settings.database_url, BROKER_URL=broker_url,
        GATEWAY_TRUST_ANCHORS=str(settings.trust_anchors),
    )  # fmt: skip
    log = (elsewhere / "serve.log").open("wb")
    hub = subprocess.Popen(
        [str(installed_wheel.command), "serve", "--port", str(port)],
        cwd=elsewhere / "work", env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    ready = client.get("/health/ready")
                    break
                except httpx.TransportError:
                    alive = hub.poll() is None and time.monotonic() < deadline
                    assert alive, (elsewhere / "serve.log").read_text()
                    time.sleep(0.2)
            assert ready.status_code == 200, ready.text
            wsdl = client.get("/sed/soap/v1", params={"wsdl": ""})  # rendered from the packaged schemas
            assert wsdl.status_code == 200 and b"definitions" in wsdl.content
            (appeal_id,) = push_samples(client, portal, 1)  # validated against the packaged XSD
            assert uuid.UUID(appeal_id)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=20)
        log.close()
    assert hub.returncode == 0, (elsewhere / "serve.log").read_text()
