"""The operators' commands as they run them: the real CLI in its own process, on the test database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def cli(database_url: str, tmp_path: Path):
    """Run ``appeals-gateway ARGS`` with the test database; returns (exit code, stdout, stderr)."""

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": database_url,
            "GATEWAY_DATA_DIR": str(tmp_path / "var"),
            **(env or {}),
        }
        done = subprocess.run(
            [sys.executable, "-m", "gateway.faces.cli.main", *args],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    return run
