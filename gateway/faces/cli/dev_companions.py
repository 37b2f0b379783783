"""What `serve --dev` starts beside the hub, so `make run` shows the whole return path on one
laptop: the delivery worker (with its relay) on the embedded broker, a fake citizen's cabinet
receiving the hub's signed status updates, and the applicant's e-mail and SMS: an SMTP server
that keeps each message as a file (``var/dev/mail``) and the fake SMSC (``var/dev/sms.jsonl``)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from gateway.config import Settings
from gateway.faces.cli.ports import PortUnavailable, claim_port

# The fake cabinet listens this far above the hub's port unless told otherwise: 8080 → 8091, and a
# second hub on --port 9080 gets its own cabinet on 9091.
CABINET_PORT_OFFSET = 11
MAKE_RUN_CABINET_URL = "http://127.0.0.1:8091"  # `make run`'s: where `demo` looks by default
CABINET_START_SECONDS = 30
# The applicant's e-mail and SMS, above the hub's port like the cabinet: 8080 → 8092 and 8093.
MAIL_SINK_PORT_OFFSET = 12
SMSC_PORT_OFFSET = 13
DEV_SMSC_ACCOUNT = {"GATEWAY_SMPP_SYSTEM_ID": "hub", "GATEWAY_SMPP_PASSWORD": "secret",
                    "GATEWAY_SMPP_SOURCE_ADDR": "Obrashch21"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DevChannels:
    """Where the dev SMTP server and fake SMSC listen (None: one the developer configured instead)."""

    mail_port: int | None
    smsc_port: int | None


def mail_spool(settings: Settings) -> Path:
    return settings.data_dir / "dev" / "mail"


def sms_spool(settings: Settings) -> Path:
    return settings.data_dir / "dev" / "sms.jsonl"


def dev_channels(settings: Settings, hub_port: int, base_url: str) -> DevChannels:
    """Point the hub (this process, read by ``get_settings`` after this) and its worker at the dev
    SMTP server and fake SMSC, unless GATEWAY_SMTP_HOST / GATEWAY_SMPP_HOST name real ones; and
    the notifications' status link at this hub, unless GATEWAY_PUBLIC_URL is set."""
    mail_port = smsc_port = None
    if not settings.smtp_host:
        mail_port = hub_port + MAIL_SINK_PORT_OFFSET
        os.environ.update({"GATEWAY_SMTP_HOST": "127.0.0.1", "GATEWAY_SMTP_PORT": str(mail_port),
                           "GATEWAY_SMTP_SECURITY": "none"})  # fmt: skip
    if not settings.smpp_host:
        smsc_port = hub_port + SMSC_PORT_OFFSET
        os.environ.update({"GATEWAY_SMPP_HOST": "127.0.0.1", "GATEWAY_SMPP_PORT": str(smsc_port),
                           **DEV_SMSC_ACCOUNT})  # fmt: skip
    if not settings.public_url:
        os.environ["GATEWAY_PUBLIC_URL"] = base_url
    return DevChannels(mail_port, smsc_port)


STOP_SECONDS = 15  # a warm shutdown finishes the delivery in hand; after this, the group is killed


def cabinet_port_for(hub_port: int) -> int:
    return hub_port + CABINET_PORT_OFFSET


def start_companions(
    settings: Settings,
    database_url: str,
    cabinet_port: int,
    children: dict[str, subprocess.Popen[bytes]],
    channels: DevChannels = DevChannels(None, None),
) -> None:
    """Start the fake cabinet (unless GATEWAY_CABINET_URL names a real one) and `appeals-gateway
    worker`; their output goes to var/dev/*.log.

    Each child is in ``children`` (by name) from the moment it runs, so Ctrl-C halfway still stops
    it. Each leads a process group of its own (the worker's pool and relay join it), so
    :func:`stop_companions` can end a child that will not stop, and everything it started.
    """
    logs = settings.data_dir / "dev"
    logs.mkdir(parents=True, exist_ok=True)
    cabinet_url = settings.cabinet_url or f"http://127.0.0.1:{cabinet_port}"
    env = {**os.environ, "DATABASE_URL": database_url, "GATEWAY_CABINET_URL": cabinet_url}
    if not settings.cabinet_url and (cabinet := _start_cabinet(settings, env, cabinet_port, logs)):
        children["fake cabinet"] = cabinet
    worker = [sys.executable, "-m", "gateway.faces.cli.main", "worker"]
    children["delivery worker"] = _start(worker, env, logs / "worker.log")
    if "fake cabinet" in children:  # it booted beside the worker; now it must say it listens
        if _listening(children["fake cabinet"]):
            view = f"{cabinet_url}/_state/<appeal id>"
            typer.echo(f"fake citizen's cabinet on {cabinet_url} (its view: {view})")
        else:
            stop_companions([children.pop("fake cabinet")])
            log = logs / "cabinet.log"
            typer.echo(f"fake citizen's cabinet not started: it did not come up (see {log})", err=True)
    typer.echo(f"delivery worker and relay on {settings.broker} (log: {logs / 'worker.log'})")
    _start_channels(settings, env, channels, logs, children)


def _start_channels(
    settings: Settings, env: dict[str, str], channels: DevChannels, logs: Path,
    children: dict[str, subprocess.Popen[bytes]],
) -> None:  # fmt: skip
    """The dev SMTP server and fake SMSC, each announced with where it keeps what it received; a
    taken port is one line, and the hub's e-mail or SMS to it wait and retry."""
    python = [sys.executable, "-m"]
    wanted = []
    if channels.mail_port is not None:
        args = [*python, "gateway.simulators.mail_sink", "--port", str(channels.mail_port),
                "--spool", str(mail_spool(settings))]  # fmt: skip
        wanted.append(("applicants' mail (SMTP)", channels.mail_port, args, mail_spool(settings), "mail"))
    if channels.smsc_port is not None:
        account = ["--system-id", DEV_SMSC_ACCOUNT["GATEWAY_SMPP_SYSTEM_ID"],
                   "--password", DEV_SMSC_ACCOUNT["GATEWAY_SMPP_PASSWORD"]]  # fmt: skip
        args = [*python, "gateway.simulators.smsc", "--port", str(channels.smsc_port), *account,
                "--spool", str(sms_spool(settings))]  # fmt: skip
        wanted.append(("fake SMSC (SMPP)", channels.smsc_port, args, sms_spool(settings), "smsc"))
    for name, port, args, spool, log in wanted:
        try:
            claim_port("127.0.0.1", port).close()
        except PortUnavailable as exc:
            typer.echo(f"{name} not started: {exc.reason('--port')}", err=True)
            continue
        children[name] = _start(args, env, logs / f"{log}.log")
        typer.echo(f"{name} on 127.0.0.1:{port}, keeping what it receives in {spool}")


def _start_cabinet(
    settings: Settings, env: dict[str, str], port: int, logs: Path
) -> subprocess.Popen[bytes] | None:
    """The fake cabinet's process, or None after one line saying why it cannot start.

    Deliveries still go to its URL: they wait and retry there, as they would for a real cabinet
    that is down.
    """
    try:
        claim_port("127.0.0.1", port).close()  # a taken port is told here, in the hub's words
    except PortUnavailable as exc:
        typer.echo(f"fake citizen's cabinet not started: {exc.reason('--cabinet-port')}", err=True)
        return None
    args = [sys.executable, "-m", "gateway.simulators.cabinet", "--port", str(port)]
    args += ["--hub-cert", str(settings.hub_certificate_file), "--contract", str(settings.cabinet_contract)]
    return _start(args, env, logs / "cabinet.log", stdout=subprocess.PIPE)


def _listening(cabinet: subprocess.Popen[bytes]) -> bool:
    """Wait for the one line the cabinet prints on stdout once it listens (EOF if it exits)."""
    assert cabinet.stdout is not None
    with cabinet.stdout:
        ready, _, _ = select.select([cabinet.stdout], [], [], CABINET_START_SECONDS)
        return bool(ready) and cabinet.stdout.readline().startswith(b"fake cabinet listening")


def _start(
    args: list[str], env: dict[str, str], log: Path, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=stdout or out, stderr=out,
            start_new_session=True,  # Ctrl-C reaches `serve` only; it stops them in order
        )  # fmt: skip


def stop_companions(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each leader (the worker finishes its deliveries in hand, then stops its pool and
    relay), then SIGKILL whatever of its group is still there: a leader that would not stop, or
    what it left behind. Only the leader is asked: Celery's pool processes die at once on SIGTERM."""
    for child in children:
        child.terminate()
    for child in children:
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        _signal_group(child, signal.SIGKILL)  # pool processes or a relay the leader left behind


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
