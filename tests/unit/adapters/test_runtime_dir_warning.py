"""platformdirs' runtime-folder warning (pgserver asks for one on import, start and stop) never
reaches a command's stderr, whatever its cause."""

from __future__ import annotations

import os
import subprocess
import sys

from gateway.config import PROJECT_ROOT


def test_the_runtime_dir_warning_is_silenced_for_every_cause():
    script = (
        "import gateway.adapters.db, platformdirs, warnings\n"
        "warnings.warn('/run/user/0 is owned by uid 1, not 0', platformdirs.RuntimeDirWarning)\n"
        "import pgserver\n"
        "platformdirs.user_runtime_path('python_PostgresServer')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    run = subprocess.run(
        [sys.executable, "-W", "default", "-c", script],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
