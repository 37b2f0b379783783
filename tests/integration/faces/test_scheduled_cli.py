"""``appeals-gateway scheduled …`` from several nodes' timers at once: one runs, the others say so."""

from __future__ import annotations

import subprocess
import sys

from gateway.config import PROJECT_ROOT


def _clear(hub) -> None:
    with hub.pool.connection() as conn:
        conn.execute("TRUNCATE scheduled_run")


def test_three_nodes_verifying_the_audit_chain_at_once_verify_it_once(hub, database_url, tmp_path) -> None:
    _clear(hub)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "GATEWAY_DATA_DIR": str(tmp_path / "var")}
    command = [sys.executable, "-m", "gateway.faces.cli.main", "scheduled", "audit-verify", "--every", "day"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    nodes = [subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, **pipes) for _ in range(3)]
    outputs = [node.communicate(timeout=60)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0, 0]
    assert sum("audit chain intact" in out for out in outputs) == 1
    assert sum("already claimed by" in out for out in outputs) == 2


def test_yesterdays_archive_is_exported_once(cli, hub, tmp_path) -> None:
    _clear(hub)
    archive = tmp_path / "archive"
    archive.mkdir()
    code, out, err = cli("scheduled", "archive-export", "--directory", str(archive), "--tz", "Europe/Moscow")
    assert code == 0, err
    (written,) = archive.glob("appeals-gateway-*.tar")
    assert str(written) in out
    code, out, err = cli("scheduled", "archive-export", "--directory", str(archive), "--tz", "Europe/Moscow")
    assert code == 0 and "already claimed by" in out and "(ok)" in out
    assert list(archive.glob("*.tar")) == [written]
