"""`appeals-gateway serve --dev` (what `make run` runs) as a developer meets it: on its own embedded
PostgreSQL and filesystem broker, it announces the hub once it answers, the fake cabinet follows
--port, and Ctrl-C or SIGTERM leaves nothing running; a taken port is one line and a non-zero exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # pgserver's own dependency: present wherever the embedded PostgreSQL is
import pytest

from gateway.faces.cli.dev_companions import CABINET_PORT_OFFSET, MAIL_SINK_PORT_OFFSET, SMSC_PORT_OFFSET
from tests.e2e.processes import Process, wait_for

BOOT_SECONDS = 120  # a first boot runs initdb and makes a PKI: ~10 s here, more on a busy machine
STOP_SECONDS = 30  # the worker gets 15 s to finish what it holds before it is killed


@pytest.fixture(scope="module")
def data_dir(embedded_data_dir: Path) -> Path:
    """One GATEWAY_DATA_DIR for the module: the second boot reuses the first one's database and PKI."""
    return embedded_data_dir


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    """As `make run` has it: no DATABASE_URL (embedded PostgreSQL), no BROKER_URL (filesystem)."""
    unset = {"DATABASE_URL", "GATEWAY_DATABASE_URL", "BROKER_URL", "GATEWAY_BROKER_URL"}
    unset |= {"GATEWAY_CABINET_URL", "GATEWAY_DEV_CABINET_PORT", "PROMETHEUS_MULTIPROC_DIR"}
    kept = {name: value for name, value in os.environ.items() if name not in unset}
    return {**kept, "GATEWAY_DATA_DIR": str(data_dir)}


@pytest.fixture
def leftovers() -> Iterator[list[psutil.Process]]:
    """Processes a test saw `serve` start: SIGKILLed after it, so a failing test leaves none behind."""
    seen: list[psutil.Process] = []
    yield seen
    for process in seen:
        if process.is_running():
            process.kill()


def _port_pair(*offsets: int) -> int:
    """A free port whose +11 (the fake cabinet's) is free too, and each of ``offsets`` above it."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        above = [port + o for o in (CABINET_PORT_OFFSET, *offsets)]
        if max(above) < 65536 and all(_free(p) for p in above):
            return port
    raise AssertionError("no pair of free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _boot(args: list[str], env: dict[str, str], log_dir: Path, port: int) -> Process:
    serve = Process(["serve", "--dev", "--port", str(port), *args], env, log_dir / f"serve-{port}.log")
    wait_for(
        lambda: "hub listening on" in serve.output() or serve.proc.poll() is not None,
        BOOT_SECONDS, "the hub to listen", serve,
    )  # fmt: skip
    assert serve.proc.poll() is None, serve.output()
    return serve


def _everything_it_started(serve: Process, data_dir: Path) -> list[psutil.Process]:
    """Its children and theirs (cabinet, worker, the worker's pool and relay), and the embedded
    postmaster; once the worker says it is ready, so its pool is there to be counted."""
    serving = psutil.Process(serve.proc.pid)
    [worker] = [p for p in serving.children() if "worker" in p.cmdline()]
    worker_log = data_dir / "dev" / "worker.log"
    wait_for(
        lambda: re.search(rf"deliveries-{worker.pid}@\S+ ready", worker_log.read_text(errors="replace")),
        BOOT_SECONDS, "the delivery worker to be ready", serve,
    )  # fmt: skip
    postmaster_pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    return [*serving.children(recursive=True), psutil.Process(postmaster_pid)]


def _commands(processes: list[psutil.Process]) -> str:
    return "\n".join(" ".join(p.cmdline()) for p in processes)


def _stopped_by(serve: Process, signum: int, started: list[psutil.Process]) -> None:
    """Send what Ctrl-C or `kill` sends; `serve` exits 0 and everything it started is gone."""
    os.killpg(serve.proc.pid, signum)  # Ctrl-C reaches the terminal's foreground group: this one
    assert serve.proc.wait(timeout=STOP_SECONDS) == 0, serve.output()
    _, alive = psutil.wait_procs(started, timeout=5)
    assert not alive, f"still running after `serve` stopped:\n{_commands(alive)}"
    out = serve.output()
    assert "Traceback" not in out, out
    assert re.search(r"^stopped: .*embedded PostgreSQL", out, re.M), out


def test_ctrl_c_stops_the_hub_worker_cabinet_and_the_embedded_postgresql_it_started(
    env, data_dir, tmp_path, leftovers
):
    port = _port_pair()
    serve = _boot([], env, tmp_path, port)
    started = _everything_it_started(serve, data_dir)
    leftovers += started
    commands = _commands(started)
    assert f"gateway.simulators.cabinet --port {port + CABINET_PORT_OFFSET}" in commands
    assert "gateway.faces.cli.main worker" in commands and "gateway.faces.cli.main relay" in commands

    assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code == 200
    cabinet = f"http://127.0.0.1:{port + CABINET_PORT_OFFSET}"
    assert httpx.get(f"{cabinet}/_state", timeout=5).json()["calls"] == 0
    out = serve.output()
    assert f"fake citizen's cabinet on {cabinet} " in out
    assert f"demo --url http://127.0.0.1:{port} --cabinet {cabinet}" in out

    _stopped_by(serve, signal.SIGINT, started)


def test_sigterm_stops_everything_too_and_a_taken_cabinet_port_is_one_line(
    env, data_dir, tmp_path, leftovers
):
    port, cabinet_port = _port_pair(), _port_pair()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", cabinet_port))
        taken.listen()
        serve = _boot(["--cabinet-port", str(cabinet_port)], env, tmp_path, port)
        started = _everything_it_started(serve, data_dir)
        leftovers += started
        assert "gateway.simulators.cabinet" not in _commands(started)
        out = serve.output()
        assert f"fake citizen's cabinet not started: port {cabinet_port} is taken" in out
        assert "choose another with --cabinet-port" in out
        assert "fake citizen's cabinet on" not in out
        assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code == 200

        _stopped_by(serve, signal.SIGTERM, started)


def test_a_taken_hub_port_is_one_line_a_non_zero_exit_and_nothing_started(env, tmp_path):
    data_dir = tmp_path / "var"
    env = {**env, "GATEWAY_DATA_DIR": str(data_dir)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve = Process(["serve", "--dev", "--port", str(port)], env, tmp_path / "serve.log")
        started = time.monotonic()
        code = serve.proc.wait(timeout=60)
    lines = serve.output().strip().splitlines()
    assert code != 0
    assert lines == [f"port {port} is taken: 127.0.0.1:{port} is in use; choose another with --port"]
    assert not data_dir.exists()  # no database booted, no PKI made, no worker or cabinet started
    assert time.monotonic() - started < 30


def test_the_demo_against_make_run_shows_the_e_mail_and_sms_each_applicant_received(
    env, data_dir, tmp_path, leftovers
):
    """`make run`, then `appeals-gateway demo` in another shell, as docs/trying-it.md says: the dev SMTP
    server and fake SMSC receive what the worker sends, and the demo shows it."""
    port = _port_pair(MAIL_SINK_PORT_OFFSET, SMSC_PORT_OFFSET)
    serve = _boot([], env, tmp_path, port)
    started = _everything_it_started(serve, data_dir)
    leftovers += started
    commands = _commands(started)
    assert f"gateway.simulators.mail_sink --port {port + MAIL_SINK_PORT_OFFSET}" in commands
    assert f"gateway.simulators.smsc --port {port + SMSC_PORT_OFFSET}" in commands
    assert f"applicants' mail (SMTP) on 127.0.0.1:{port + MAIL_SINK_PORT_OFFSET}" in serve.output()

    cabinet = f"http://127.0.0.1:{port + CABINET_PORT_OFFSET}"
    demo = Process(["demo", "--url", f"http://127.0.0.1:{port}", "--cabinet", cabinet], env,
                   tmp_path / "demo.log")  # fmt: skip
    assert demo.proc.wait(timeout=180) == 0, demo.output()
    out = demo.output()
    received = out[out.index("What reached the applicants by e-mail and SMS") :]
    number = r"ОГ-\d{4}/\w{6}"
    for line in (
        rf"e-mail to applicant@example\.org: Обращение зарегистрировано, № {number}",
        rf"e-mail to applicant@example\.org: Дан ответ на обращение № {number}",
        rf"SMS to \+79000000000: Обращение зарегистрировано, № {number}.*Код доступа: \w{{10}}",
        rf"SMS to \+79000000000: На обращение № {number} дан ответ",
        r"e-mail to .*ivanov@example\.ru.*: Ваше письмо зарегистрировано как обращение",
        r"e-mail to .*sidorov@example\.ru.*: Ваше письмо не зарегистрировано как обращение",
        r"e-mail to .*ivanov@example\.ru.*: Обращение зарегистрировано, № ОГ-\d{4}/Э-\w{4}",
        r"e-mail to .*ivanov@example\.ru.*: Дан ответ на обращение № ОГ-\d{4}/Э-\w{4}  "
        r"\[attached: answer\.xml\]",
    ):  # fmt: skip
        assert re.search(line, received), f"{line!r} not in:\n{received}"

    _stopped_by(serve, signal.SIGINT, started)
