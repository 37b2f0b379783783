"""deploy/systemd: the units pass ``systemd-analyze verify`` pointed at the installed wheel's
command, are hardened (``systemd-analyze security``), and run commands the CLI has."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT
from tests.conftest import _unavailable
from tests.deploy.kit import cli_command, unknown_variables

UNITS = PROJECT_ROOT / "deploy" / "systemd"
INSTALLED = "/opt/appeals-gateway/bin/appeals-gateway"
LONG_RUNNING = [f"appeals-gateway-{role}" for role in ("hub", "worker", "relay", "sms-receipts")]


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        _unavailable("systemd-analyze", FileNotFoundError("systemd-analyze (apt-get install systemd)"))
    assert path is not None
    return path


def _directives(unit: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith(key + "=")]


@pytest.fixture(scope="module")
def units(installed_wheel, tmp_path_factory) -> Path:
    """The units as installed, with ExecStart= naming the wheel's command where it is here."""
    folder = tmp_path_factory.mktemp("units")
    for unit in [*UNITS.glob("*.service"), *UNITS.glob("*.timer")]:
        text = unit.read_text().replace(INSTALLED, str(installed_wheel.command))
        (folder / unit.name).write_text(text)
    return folder


def test_every_unit_passes_systemd_analyze_verify(units: Path) -> None:
    files = sorted(str(p) for p in units.iterdir())
    assert len(files) == 8  # hub, worker, relay, sms-receipts, two periodic jobs with their timers
    done = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", *files],
        cwd=units, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Unknown keys and bad values are only warnings to verify: any line on stderr fails the test.
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_services_are_hardened(units: Path, name: str) -> None:
    unit = units / f"{name}.service"
    assert _directives(unit, "DynamicUser") == ["yes"] and _directives(unit, "ProtectSystem") == ["strict"]
    assert _directives(unit, "NoNewPrivileges") == ["yes"]
    done = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        cwd=units, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert exposure, done.stdout[-2000:] + done.stderr
    print(f"{name}: systemd exposure {exposure.group(1)}")  # 1.4 here ("OK"); 10 is unconfined
    assert float(exposure.group(1)) <= 2.0


def test_units_run_commands_of_the_cli_with_known_settings() -> None:
    for unit in UNITS.glob("*.service"):
        for exec_start in _directives(unit, "ExecStart"):
            binary, *args = shlex.split(exec_start)
            assert binary == INSTALLED
            assert cli_command(args).startswith("appeals-gateway "), exec_start
        names = [value.split("=", 1)[0] for value in _directives(unit, "Environment")]
        assert not unknown_variables(names), unit.name
    for timer in UNITS.glob("*.timer"):
        assert (UNITS / timer.name.replace(".timer", ".service")).exists()


def test_the_environment_file_example_names_only_settings() -> None:
    lines = (UNITS / "gateway.env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    assert names and not unknown_variables(names)
