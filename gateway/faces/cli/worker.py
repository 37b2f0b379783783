"""``appeals-gateway worker`` and ``relay``: the processes that carry the outbox to its receivers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Annotated

import structlog
import typer

from gateway.config import get_settings

log = structlog.get_logger(__name__)


def relay() -> None:
    """Publish due outbox messages to the broker until stopped (SIGTERM or Ctrl-C).

    `worker` starts one itself; run this alone when workers run with --no-relay.
    """
    from gateway.faces.worker.relay import serve_relay
    from gateway.service.hub import open_hub

    settings = get_settings()
    hub = open_hub(settings, apply_migrations=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("relay starting", queue=settings.delivery_queue, broker=_safe(settings.broker))
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

    settings = get_settings()
    child = None
    if with_relay:
        child = subprocess.Popen([sys.executable, "-m", "gateway.faces.cli.main", "relay"])
    log.info(
        "worker starting", concurrency=concurrency or settings.worker_concurrency,
        queue=settings.delivery_queue, broker=_safe(settings.broker), relay=child is not None,
    )  # fmt: skip
    try:
        app.worker_main([
            # --quiet: no banner on stdout; the line above says the same, as JSON like every line
            "--quiet", "worker", f"--loglevel={settings.log_level}", "--pool=prefork",
            "--without-gossip", "--without-mingle",
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
