"""deploy/compose, the Dockerfile, HAProxy, Prometheus and Grafana files: no container runtime runs
here, so each is checked as far as a real tool or the hub's own code can: the files parse, every
variable a hub container gets is a hub setting, every command it runs parses as the CLI's, HAProxy
accepts its configuration (``haproxy -c``) and Prometheus its own (``promtool check config``)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.config import PROJECT_ROOT
from tests.conftest import _unavailable
from tests.deploy.kit import cli_command, unknown_variables

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
HUB_IMAGE = "appeals-gateway:latest"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _hub_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == HUB_IMAGE}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _unavailable(name, FileNotFoundError(name))
    assert path is not None
    return path


def test_the_stack_has_every_part(compose: dict) -> None:
    services = compose["services"]
    hubs = [name for name, s in _hub_services(compose).items() if s["command"][0] == "serve"]
    assert hubs == ["hub-1", "hub-2", "hub-3"]
    others = {"rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "postgres", "haproxy", "prometheus", "grafana"}
    assert others <= set(services)
    assert {"worker", "relay", "scheduler", "migrate"} <= set(_hub_services(compose))
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    assert all(f"rabbit@rabbitmq-{n}" in conf for n in (1, 2, 3)) and "default_queue_type = quorum" in conf


def test_hub_containers_get_only_settings_and_run_only_cli_commands(compose: dict) -> None:
    for name, service in _hub_services(compose).items():
        assert not unknown_variables(service["environment"]), name
        command = service["command"]
        if service.get("entrypoint") == ["/bin/sh", "-c"]:  # a loop of several commands
            invocations = re.findall(r"appeals-gateway ([^;]+);", command[0])
            assert len(invocations) == 2, command
            for invocation in invocations:
                cli_command(shlex.split(invocation))
        else:
            cli_command(command)


def test_every_file_the_stack_mounts_is_in_the_repository(compose: dict) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("../"):
                assert (COMPOSE.parent / source).resolve().exists(), (name, source)
    provisioning = DEPLOY / "grafana" / "provisioning"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "appeals-gateway.yaml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    json.loads((DEPLOY / "grafana" / "appeals-gateway.json").read_text())
    example = (COMPOSE.parent / "env.example").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    assert interpolated <= {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}


def test_prometheus_accepts_its_configuration_and_the_hubs_rules() -> None:
    done = subprocess.run(
        [_tool("promtool"), "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_haproxy_accepts_its_configuration(tmp_path: Path, dev_pki) -> None:
    """With the certificate paths pointed at the dev PKI's (a key and certificate in one PEM, the
    agencies' CA); the nodes' names are resolved when they come up (init-addr none)."""
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "hub.pem").write_bytes(dev_pki.hub_cert.read_bytes() + dev_pki.hub_key.read_bytes())
    (certs / "agencies-ca.pem").write_bytes(dev_pki.root_cert.read_bytes())
    config = tmp_path / "haproxy.cfg"
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    config.write_text(text.replace("/etc/haproxy/certs", str(certs)))
    done = subprocess.run(
        [_tool("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_builds_the_wheel_and_runs_it_unprivileged() -> None:
    lines = _instructions(PROJECT_ROOT / "Dockerfile")
    stages = [args for op, args in lines if op == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    final = lines[max(i for i, (op, _) in enumerate(lines) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(op == "HEALTHCHECK" and "/health/live" in args for op, args in final)
    assert any(op == "RUN" and "pip wheel" in args for op, args in lines)
    installs = "--no-index --find-links=/wheels appeals-gateway"
    assert any(op == "RUN" and installs in args for op, args in final)
    for op, args in lines:
        if op == "COPY" and "--from" not in args:
            *sources, _ = args.split()
            assert all((PROJECT_ROOT / source).exists() for source in sources), args
    env = [args for op, args in final if op == "ENV"]
    assert not unknown_variables(re.findall(r"([A-Z_]+)=", " ".join(env))[1:])  # PATH first: the image's own
    (entrypoint,) = [json.loads(args) for op, args in final if op == "ENTRYPOINT"]
    (cmd,) = [json.loads(args) for op, args in final if op == "CMD"]
    assert entrypoint == ["appeals-gateway"] and cli_command(cmd) == "appeals-gateway serve"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, args = line.partition(" ")
            out.append((op.upper(), args.strip()))
    return out
