"""The embedded PostgreSQL's ownership: `serve` stops the server it booted, unless another process
still uses it, and never one that was running before it came (a `make run` and a `make test`, or
two CLI commands, on the same data must not pull it from under each other)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil  # pgserver's own dependency
import pytest

from gateway.adapters.db import attach_embedded, stop_embedded

BOOT_AND_EXIT = """
import pathlib, sys
from gateway.adapters.db import start_embedded
start_embedded(pathlib.Path(sys.argv[1]))
"""
ATTACH_AND_WAIT = """
import sys
from gateway.adapters.db import attach_embedded
server = attach_embedded(__import__("pathlib").Path(sys.argv[1]))
print(server.started_here, flush=True)
sys.stdin.read()  # hold the handle until the test closes stdin
"""


@pytest.fixture
def pg_dir(embedded_data_dir: Path) -> Iterator[Path]:
    path = embedded_data_dir / "pg"
    yield path
    postmaster = _postmaster(path)
    if postmaster is not None:  # whatever a failing test left running
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(30)


def _postmaster(path: Path) -> psutil.Process | None:
    pid_file = path / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return psutil.Process(pid) if psutil.pid_exists(pid) else None


def _attach_elsewhere(path: Path) -> subprocess.Popen[str]:
    """Another process attached to the server under ``path``; it holds on until its stdin closes."""
    other = subprocess.Popen(
        [sys.executable, "-c", ATTACH_AND_WAIT, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    assert other.stdout is not None
    assert other.stdout.readline().strip() == "False"  # it found ours running: not its to stop
    return other


def test_the_server_this_process_booted_is_stopped_once_nobody_else_holds_it(pg_dir):
    ours = attach_embedded(pg_dir)
    assert ours.started_here
    postmaster = _postmaster(pg_dir)
    assert postmaster is not None

    other = _attach_elsewhere(pg_dir)
    assert not stop_embedded(ours)  # the other process still uses it
    assert postmaster.is_running()

    other.communicate("", timeout=30)  # it exits
    assert stop_embedded(ours)
    postmaster.wait(5)
    assert _postmaster(pg_dir) is None


def test_a_server_another_process_had_running_is_never_stopped(pg_dir):
    subprocess.run([sys.executable, "-c", BOOT_AND_EXIT, str(pg_dir)], check=True, timeout=120)
    postmaster = _postmaster(pg_dir)
    assert postmaster is not None  # it outlived the process that booted it

    attached = attach_embedded(pg_dir)
    assert not attached.started_here
    assert not stop_embedded(attached)
    assert postmaster.is_running()
