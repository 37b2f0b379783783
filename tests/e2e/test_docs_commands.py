"""Every shell block in the documentation, run against a hub as a reader would paste it.

The working directory looks like a checkout where `make run` has run: ``.venv`` and ``schemas``
from the repository, ``var/pki`` the dev PKI, ``var/dev/tokens.json`` the tokens. Commands aimed at
``127.0.0.1:8080`` reach the test's hub.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT
from tests.conftest import OPERATOR_TOKEN
from tests.docs_blocks import pages, script, shell_blocks

PAGES = [page for page in pages() if shell_blocks(page)]


def test_a_block_that_is_not_run_says_why():
    unexplained = [
        f"{b.page.name}:{b.line}" for page in pages() for b in shell_blocks(page) if b.not_run == ""
    ]
    assert not unexplained, f"`<!-- not run: -->` without a reason: {unexplained}"


@pytest.fixture
def reader_dir(tmp_path: Path, dev_pki, registry) -> Path:
    """A directory laid out as a checkout after `make run`."""
    (tmp_path / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    (tmp_path / "schemas").symlink_to(PROJECT_ROOT / "schemas")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "pki").symlink_to(dev_pki.agency_key.parent)
    (tmp_path / "var" / "dev").mkdir()
    tokens = {**registry[1], "operator": OPERATOR_TOKEN}
    (tmp_path / "var" / "dev" / "tokens.json").write_text(json.dumps(tokens))
    return tmp_path


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_pages_commands_run(page: Path, hub_url: str, hub, settings, reader_dir: Path):
    port = int(hub_url.rsplit(":", 1)[1])
    text = script(shell_blocks(page), hub_port=port, cabinet_port=9)
    env = {
        **os.environ,
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": settings.database_url,  # the CLI's commands read the hub's database
        "GATEWAY_DATA_DIR": str(reader_dir / "var"),
    }
    done = subprocess.run(
        ["bash", "-c", text], cwd=reader_dir, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{page.name} failed:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
