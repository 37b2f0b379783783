"""``appeals-gateway worker`` and ``relay``: the processes that carry the outbox to its receivers."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Annotated

import typer

from gateway.config import get_settings


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def relay() -> None:
    """Publish due outbox messages to the broker until stopped (SIGTERM or Ctrl-C).

    `worker` starts one itself; run this alone when workers run with --no-relay.
    """
    from gateway.faces.worker.relay import serve_relay
    from gateway.service.hub import open_hub

    _logging()
    settings = get_settings()
    hub = open_hub(settings, apply_migrations=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(f"relay: outbox → {settings.delivery_queue} on {_safe(settings.broker)}")
    try:
        serve_relay(hub, settings, stop)
    finally:
        hub.close()


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="delivery processes (default GATEWAY_WORKER_CONCURRENCY)")
    ] = None,
    with_relay: Annotated[
        bool, typer.Option("--relay/--no-relay", help="also run the outbox relay (as a child process)")
    ] = True,
) -> None:
    """Deliver the outbox: Celery worker processes attempt each delivery, the relay feeds them.

    Several workers may run on several machines; each claims its own deliveries.
    """
    from gateway.faces.worker.tasks import app

    _logging()
    settings = get_settings()
    child = None
    if with_relay:
        child = subprocess.Popen([sys.executable, "-m", "gateway.faces.cli.main", "relay"])
    typer.echo(
        f"worker: {concurrency or settings.worker_concurrency} processes on {settings.delivery_queue} "
        f"at {_safe(settings.broker)}; relay {'on' if child else 'off'}"
    )
    try:
        app.worker_main([
            "worker", "--loglevel=INFO", "--pool=prefork", "--without-gossip", "--without-mingle",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--queues={settings.delivery_queue}", f"--hostname=deliveries-{os.getpid()}@%h",
        ])  # fmt: skip
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)


def _safe(url: str) -> str:
    """The broker URL without its password, for a startup line."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return scheme + sep + rest
