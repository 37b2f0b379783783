"""The broker that carries delivery tasks: RabbitMQ in production, kombu's filesystem transport
for a laptop (``make run``), both through Celery.

On RabbitMQ the queue is a quorum queue (replicated, durable; a message survives a broker
restart), publishes wait for the broker's confirm, and a task a worker keeps crashing on goes,
after ``DELIVERY_LIMIT`` redeliveries, to a dead-letter exchange instead of looping forever. The
outbox row stays the truth either way: the relay notices a task that never finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from gateway.config import Settings

DELIVER_TASK = "gateway.deliver"
DELIVERY_LIMIT = 10
# A task may run this long (the HTTP timeout is far shorter); the broker's consumer timeout sits
# above it, so RabbitMQ closes the channel of a consumer that holds a task longer than any run can.
TASK_TIME_LIMIT = 300
CONSUMER_TIMEOUT_MS = (TASK_TIME_LIMIT + 60) * 1000


def is_amqp(url: str) -> bool:
    return url.split("://", 1)[0] in {"amqp", "amqps", "pyamqp"}


def delivery_queue(url: str, name: str) -> Queue:
    """The queue delivery tasks wait in; on RabbitMQ its dead letters go to ``{name}.dlx``."""
    exchange = Exchange(name, type="direct", durable=True)
    if not is_amqp(url):
        return Queue(name, exchange, routing_key=name)
    return Queue(
        name,
        exchange,
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": name + ".dlx",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-consumer-timeout": CONSUMER_TIMEOUT_MS,
        },
    )


def dead_letter_queue(name: str) -> Queue:
    """Where RabbitMQ puts the tasks of ``name`` that hit the delivery limit, for operators to see."""
    return Queue(
        name + ".dead",
        Exchange(name + ".dlx", type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def _filesystem_options(data_dir: Path) -> dict[str, Any]:
    folder = data_dir / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }


def configure(app: Celery, settings: Settings) -> None:
    """Point ``app`` at the configured broker with the delivery guarantees the outbox relies on."""
    url = settings.broker
    amqp = is_amqp(url)
    app.conf.update(
        broker_url=url,
        broker_transport_options=(
            {"confirm_publish": True} if amqp else _filesystem_options(settings.data_dir)
        ),
        broker_connection_retry_on_startup=True,
        task_queues=[delivery_queue(url, settings.delivery_queue)],
        task_default_queue=settings.delivery_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # Acknowledge after the attempt, and hand the task back if the worker process dies in it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=time_limit(settings),
        task_soft_time_limit=time_limit(settings) * 0.9,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=amqp,
        worker_send_task_events=False,
    )


def time_limit(settings: Settings) -> float:
    """A task's hard time limit: within the attempt's claim (``delivery_claim_seconds``), so an
    attempt that runs too long is killed before another worker may take its row, and within
    ``TASK_TIME_LIMIT``, under the broker's consumer timeout (a queue argument, fixed once declared)."""
    return min(float(TASK_TIME_LIMIT), settings.delivery_claim_seconds)


def declare_queues(app: Celery) -> None:
    """The delivery queue, and on RabbitMQ its dead-letter exchange and queue, before the first
    publish (a message published to an exchange with no queue bound yet would be dropped)."""
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        delivery_queue(app.conf.broker_url, queue).bind(conn.default_channel).declare()
        if is_amqp(app.conf.broker_url):
            dead_letter_queue(queue).bind(conn.default_channel).declare()


class TaskPublisher:
    """Publishes delivery tasks; ``publish`` returns once the broker has confirmed the message."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def publish(self, outbox_id: int, attempt: int) -> None:
        self._app.send_task(
            DELIVER_TASK,
            args=(outbox_id, attempt),
            task_id=f"outbox-{outbox_id}-{attempt}",
            retry=False,
        )
