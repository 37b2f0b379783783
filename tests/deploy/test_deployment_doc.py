"""docs/deployment.md: its ``sh`` blocks run, in order, against a copy of a test database (backup,
restore and its checks, the scheduled jobs, migrations); every ``appeals-gateway …`` line of every
block, ``text`` examples for production hosts included, parses as a command of the CLI."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from gateway.config import PROJECT_ROOT
from gateway.service import intake
from gateway.service.audit_chain import seal
from gateway.simulators.samples import sample_appeal
from tests.deploy.kit import cli_command
from tests.docs_blocks import script, shell_blocks

DOC = PROJECT_ROOT / "docs" / "deployment.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INVOCATION = re.compile(r"(?:^|[ \t/])appeals-gateway[ \t]+([^|&#;\n]+)")


def _blocks(kind: str | None = None) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if kind is None or lang == kind]


def test_every_command_the_guide_shows_is_one_the_cli_has() -> None:
    lines = [line for block in _blocks() for line in block.splitlines()]
    invocations = [m.group(1) for line in lines for m in INVOCATION.finditer(line)]
    assert len(invocations) >= 9  # as many as the guide shows today: the pattern finds them
    for invocation in invocations:
        assert cli_command(shlex.split(invocation)).startswith("appeals-gateway "), invocation


def test_the_guides_runnable_blocks_run(hub, portal, database_url, tmp_path: Path) -> None:
    """As tests/e2e/test_docs_commands.py runs every page, and then what they printed: a backup of a
    database holding an appeal, restored into a new database (schema current, the appeal's audit
    chain intact), the scheduled jobs (the second run of a day finds it claimed), migrations."""
    intake.accept(hub, portal.envelope(sample_appeal(0)))
    seal(hub)  # as the relay would (none runs here): the guide's verify has records to check
    with hub.pool.connection() as conn:
        conn.execute("TRUNCATE scheduled_run")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": database_url,
        "GATEWAY_DATA_DIR": str(tmp_path / "var"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    done = subprocess.run(
        ["bash", "-c", script(shell_blocks(DOC), hub_port=8080, cabinet_port=9)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
    text = done.stdout
    assert "schema is current" in text and re.search(r"audit chain intact: [1-9]", text)  # not empty
    assert text.count("audit-verify for the period") == 2 and "already claimed by" in text
    assert list((tmp_path / "archive").glob("appeals-gateway-*.tar"))
