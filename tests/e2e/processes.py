"""The return path's processes as deployed: `appeals-gateway worker` and `relay`, started and
killed by tests, against the real RabbitMQ on a queue of the test run's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from gateway.config import PROJECT_ROOT


class Process:
    """One child process with its output in a log file (shown when a test fails)."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.faces.cli.main", *args],
            cwd=PROJECT_ROOT, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # SIGKILL of the group reaches Celery's pool children too
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crashed machine does."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running(args: list[str], env: Mapping[str, str], log_dir: Path) -> Iterator[Process]:
    process = Process(args, env, log_dir / f"{args[0]}-{time.monotonic_ns()}.log")
    try:
        yield process
    finally:
        process.stop()


def wait_for(condition: Callable[[], object], timeout: float, what: str, *logs: Process) -> None:
    """Poll ``condition`` until it is truthy; on timeout fail with the processes' output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    output = "\n".join(f"--- {p.log_path.name}\n{p.output()[-4000:]}" for p in logs)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{output}")
