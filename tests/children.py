"""Daemons the tests start as child processes (clamd, Dovecot, HAProxy): stopped one way."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``grace`` seconds; nothing if not running."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
