"""``serve``'s life cycle: claim the port before anything starts, say "hub listening" only once
uvicorn listens, and on Ctrl-C or SIGTERM stop everything it started (with ``--dev``: the worker,
the fake cabinet, and the embedded PostgreSQL if this process booted it).

With ``--workers N`` each uvicorn worker process listens on a socket of its own, all bound to
the one port with ``SO_REUSEPORT``, and the kernel spreads new connections over them by a hash
of the connection's addresses and ports. uvicorn's own way — its supervisor binds one socket
and every worker accepts on it — leaves the choice to whichever worker's event loop wakes
first: under keep-alive one worker took all 32 connections of a bench while the other idled
(250 → 143 appeals/s). A worker that is busy no longer steals new connections from an idle
one; the price is that connections waiting in a dying worker's queue are reset (a client
retries them), and that the kernel does not see load, only the hash (even over many clients).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from gateway.adapters.db import EmbeddedServer, attach_embedded, migrate, stop_embedded
from gateway.config import Settings, get_settings
from gateway.faces.cli.ports import PortUnavailable, claim_port


@dataclass
class Started:
    """What this `serve` started and must stop, in the order it stops them."""

    companions: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    embedded: EmbeddedServer | None = None


def serve_hub(
    settings: Settings, *, host: str, port: int, workers: int, dev: bool, cabinet_port: int | None
) -> None:
    sock = _claim_or_exit(host, port)
    port = sock.getsockname()[1]  # --port 0: the one the system chose
    started = Started()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _boot_and_serve(settings, sock, started, host=host, port=port, workers=workers, dev=dev,
                        cabinet_port=cabinet_port)  # fmt: skip
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: stopping is the normal way out
    finally:
        # from here on, a second Ctrl-C must not leave half of it running: the stops are bounded
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        sock.close()
        _stop(started)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, or make passing on its own SIGTERM) stops `serve` as Ctrl-C does.

    uvicorn handles both signals while it serves and raises them again once it has shut down;
    before it starts (booting PostgreSQL, migrating) this turns SIGTERM into KeyboardInterrupt, so
    the same cleanup runs instead of an instant death that would orphan the children.
    """
    raise KeyboardInterrupt


def _claim_or_exit(host: str, port: int) -> socket.socket:
    try:
        sock = claim_port(host, port)
    except PortUnavailable as exc:
        typer.echo(exc.reason("--port"), err=True)
        raise typer.Exit(2) from None
    # Listening at once: a client arriving while the hub boots waits for it instead of being refused.
    sock.listen(2048)
    return sock


def _boot_and_serve(
    settings: Settings, sock: socket.socket, started: Started, *,
    host: str, port: int, workers: int, dev: bool, cabinet_port: int | None,
) -> None:  # fmt: skip
    base_url = f"http://{host}:{port}"
    if not settings.database_url:
        started.embedded = attach_embedded(settings.data_dir / "pg")
    url = settings.database_url or started.embedded.url  # type: ignore[union-attr]
    # Workers inherit one database URL, so they never race to boot an embedded server.
    os.environ["DATABASE_URL"] = url
    from gateway.faces.cli.dev_companions import cabinet_port_for

    cabinet_port = cabinet_port or cabinet_port_for(port)
    if dev:
        from gateway.faces.cli.dev import prepare_dev_environment

        prepare_dev_environment(settings, base_url=base_url, cabinet_port=cabinet_port)
        from gateway.faces.cli.dev_companions import dev_channels

        channels = dev_channels(settings, port, base_url)
        get_settings.cache_clear()
        settings = get_settings()
    applied = migrate(url)
    if applied:
        typer.echo(f"migrations applied: {', '.join(applied)}")
    if dev:
        from gateway.faces.cli.dev_companions import start_companions

        start_companions(settings, url, cabinet_port, started.companions, channels)
    from gateway.adapters.metrics import reset_multiprocess_dir

    reset_multiprocess_dir()  # with PROMETHEUS_MULTIPROC_DIR: no counts of the last run's workers
    _serve(settings, sock, base_url, workers)


def _serve(settings: Settings, sock: socket.socket, base_url: str, workers: int) -> None:
    announcement = f"hub listening on {base_url}  (OpenAPI: {base_url}/schema)"
    options = {
        "log_config": None,  # logging is configured already (JSON lines); uvicorn's own lines join it
        "log_level": settings.log_level.lower(),
        "access_log": False,  # it prints query strings: the hub writes its own access line
        "proxy_headers": False,  # the app decides what a proxy vouches for (gateway/faces/proxy.py)
    }
    if workers > 1:
        # Each worker binds the port itself (see the module's docstring): give it back, and say
        # what is happening (each worker process logs its own start).
        host, port = sock.getsockname()[:2]
        sock.close()
        typer.echo(f"hub starting {workers} worker processes on {base_url}  (OpenAPI: {base_url}/schema)")
        # A worker answers the supervisor's health check only once its imports are done: on two
        # busy cores that took over uvicorn's 5 s, and the worker was killed and started again.
        config = uvicorn.Config("gateway.faces.rest.app:create_app", factory=True, host=host, port=port,
                                workers=workers, timeout_worker_healthcheck=30, **options)  # fmt: skip
        Multiprocess(config, sockets=SocketPerWorker(host, port)).run()
        return
    config = uvicorn.Config("gateway.faces.rest.app:create_app", factory=True, **options)
    server = _AnnouncingServer(config, lambda: typer.echo(announcement))
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)  # uvicorn's own code for a failed startup; its log says why


class SocketPerWorker(list):
    """What uvicorn's supervisor hands each worker process it starts (and restarts) as its
    sockets: empty here, and in the worker, once unpickled, a socket of the worker's own on
    ``host:port`` with ``SO_REUSEPORT`` (uvicorn starts workers with ``spawn``, which pickles
    what it passes them)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Callable[[str, int], list[socket.socket]], tuple[str, int]]:
        return reuse_port_sockets, (self.host, self.port)


def reuse_port_sockets(host: str, port: int) -> list[socket.socket]:
    """A socket bound to ``host:port`` beside the other workers' (``SO_REUSEPORT``); uvicorn makes it
    listen. A worker that cannot bind exits as uvicorn's failed start-up, so the supervisor stops
    instead of restarting it in a loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None
    return [sock]


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, telling the console once the application started and the socket listens."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._announce()


def _stop(started: Started) -> None:
    stopped = []
    if started.companions:
        from gateway.faces.cli.dev_companions import stop_companions

        stop_companions(list(started.companions.values()))
        stopped += started.companions
    if started.embedded is not None:
        if stop_embedded(started.embedded):
            stopped.append(f"embedded PostgreSQL ({started.embedded.path})")
        elif started.embedded.started_here:
            typer.echo(f"embedded PostgreSQL ({started.embedded.path}) left running: another process uses it")
        else:
            typer.echo(f"embedded PostgreSQL ({started.embedded.path}) left running: it ran before this hub")
    if stopped:
        typer.echo(f"stopped: {', '.join(stopped)}")
