"""docs/operations.md is the runbook the alerts link to: every alert has its section, and every
command the runbook shows runs."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from gateway.config import PROJECT_ROOT
from tests.docs_blocks import fenced_blocks

RUNBOOK = PROJECT_ROOT / "docs" / "operations.md"
ALERTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"


def _anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings (lower case, spaces to dashes)."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def _commands() -> list[str]:
    blocks = fenced_blocks(RUNBOOK, "")
    commands = [line for b in blocks for line in b.code.splitlines() if line.startswith("appeals-gateway ")]
    assert commands, "the runbook shows no commands: the test would prove nothing"
    return commands


def test_every_alert_links_to_its_own_runbook_section():
    rules = [r for g in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert url.partition("#")[2] in _anchors(), rule["alert"]


@pytest.mark.parametrize("command", _commands())
def test_the_runbook_commands_run(cli, hub, broker_url, command):
    code, out, err = cli(*shlex.split(command)[1:], env={"BROKER_URL": broker_url})
    assert code == 0, out + err
    assert err == ""
