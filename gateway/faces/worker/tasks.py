"""Celery's entry point (``celery -A gateway.faces.worker.tasks``): one task, one delivery attempt.

The task only translates: the outbox id and attempt number in, the service's outcome out. Each
worker process opens its own database pool on first use, after the fork. Celery leaves logging to
``configure_logging`` (its ``setup_logging`` signal has a receiver), in the main process and in
each pool process, so Celery's lines are JSON like the hub's.

A database outage under an attempt (a failover, a killed session) sends the task again after
``RETRY_AFTER_SECONDS`` instead of failing it: a failed task is acknowledged all the same, and its
delivery would wait for the relay's sweep of lost deliveries (``delivery_lost_after_seconds``,
15 minutes by default). The repeat is the same attempt; the claim decides whether it still runs.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import structlog
from celery import Celery, Task, signals

from gateway.adapters import broker, logs
from gateway.adapters.db.outage import RETRY_AFTER_SECONDS, is_outage
from gateway.adapters.logs import configure_logging
from gateway.config import get_settings
from gateway.faces.worker.connectors import ConnectorRegistry
from gateway.service import delivery
from gateway.service.hub import Hub, open_hub

log = structlog.get_logger(__name__)

app = Celery("appeals-gateway")
broker.configure(app, get_settings())


@signals.setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging(get_settings())


@signals.worker_process_shutdown.connect
def _flush_logs(**_: Any) -> None:
    """A pool process leaves by ``os._exit`` (no ``atexit``): its last lines are written first."""
    logs.flush()


@cache
def _hub() -> Hub:
    return open_hub(get_settings(), apply_migrations=False)


@cache
def _connectors() -> ConnectorRegistry:
    return ConnectorRegistry(get_settings(), _hub())


@app.task(name=broker.DELIVER_TASK, bind=True)
def deliver(self: Task, outbox_id: int, attempt: int) -> str:
    """Attempt one delivery; the outcome is written to the outbox row, the return value is for logs."""
    structlog.contextvars.clear_contextvars()  # a pool process runs task after task in one context
    structlog.contextvars.bind_contextvars(outbox_id=outbox_id, attempt=attempt)
    settings = get_settings()
    try:
        return delivery.attempt(
            _hub(), outbox_id, attempt, _connectors().resolve, delivery.retry_policy(settings),
            delivery.claim_length(settings),
        )  # fmt: skip
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("database unavailable during a delivery attempt; sending the task again",
                    error=type(exc).__name__, countdown=RETRY_AFTER_SECONDS)  # fmt: skip
        raise self.retry(countdown=RETRY_AFTER_SECONDS, max_retries=None) from None
