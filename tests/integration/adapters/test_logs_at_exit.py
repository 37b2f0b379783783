"""A process's last lines are written before it exits, though a writer thread writes them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.config import PROJECT_ROOT

SCRIPT = """
import logging, sys, structlog
from gateway.adapters.logs import configure_logging
configure_logging()
for i in range(3000):
    structlog.get_logger("gateway.cli").info("step", i=i)
logging.getLogger("some.library").warning("the last line")
{end}
"""


@pytest.mark.parametrize(
    ("end", "code"),
    [("", 0), ("sys.exit(3)", 3), ("raise SystemExit('failed')", 1), ("raise RuntimeError", 1)],
)
def test_a_commands_last_lines_are_written_however_it_exits(end, code):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(end=end)], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=60, env={"GATEWAY_LOG_LEVEL": "INFO", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == code
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [line["i"] for line in lines[:-1]] == list(range(3000))
    assert lines[-1]["event"] == "the last line"
