"""The broker that carries delivery tasks: RabbitMQ in production, kombu's filesystem transport
for a laptop (``make run``), both through Celery.

On RabbitMQ the queue is a quorum queue (replicated, durable; a message survives a broker
restart), publishes wait for the broker's confirm, and a task a worker keeps crashing on goes,
after ``DELIVERY_LIMIT`` redeliveries, to a dead-letter exchange instead of looping forever. The
outbox row stays the truth either way: the relay notices a task that never finished.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Connection, Exchange, Queue

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
        # One per process: a prefetched task waits behind the running one, and a delivery to a
        # receiver that hangs holds it up to the delivery timeout (an applicant's SMS behind a
        # cabinet call timing out). Two per process gave no measurable gain on the roundtrip bench
        # (bench/RESULTS.md, issue 18 on the merged main) and made such waits possible.
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


class TaskNotConfirmed(Exception):
    """The broker refused (nack) a task of a batch, or did not confirm it in time."""


CONFIRM_TIMEOUT_SECONDS = 30.0


class TaskPublisher:
    """Publishes delivery tasks; ``publish`` returns once the broker has confirmed the message,
    ``publish_batch`` once it has confirmed every message of the batch.

    A batch on RabbitMQ goes out on a channel of its own in confirm mode, every message sent
    before the first confirm is awaited: the broker confirms them together (a quorum queue
    confirms once its log is written), so a batch costs about one confirm's wait, not one per
    message. One at a time, the relay published fewer than 100 tasks a second on a busy
    machine, and every worker that got a task early waited on the batch's row lock.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._connection: Connection | None = None
        self._channel: Any = None
        self._sent = 0  # delivery tags on the confirm channel: 1, 2, … per message published
        self._confirmed = 0
        self._refused = False

    def publish(self, outbox_id: int, attempt: int) -> None:
        self._app.send_task(
            DELIVER_TASK,
            args=(outbox_id, attempt),
            task_id=f"outbox-{outbox_id}-{attempt}",
            retry=False,
        )

    def publish_batch(self, tasks: Sequence[tuple[int, int]]) -> None:
        """Publish every ``(outbox id, attempt)``; return once the broker confirmed them all, else
        raise (what it did take is published again later; workers drop the repeats)."""
        if not tasks:
            return
        if not is_amqp(self._app.conf.broker_url):
            for outbox_id, attempt in tasks:
                self.publish(outbox_id, attempt)
            return
        try:
            self._publish_confirmed(tasks)
        except Exception:
            self.close()  # a fresh connection and channel for the next batch
            raise

    def _publish_confirmed(self, tasks: Sequence[tuple[int, int]]) -> None:
        channel = self._confirm_channel()
        producer = self._app.amqp.Producer(channel, auto_declare=False)
        for outbox_id, attempt in tasks:
            self._app.send_task(
                DELIVER_TASK, args=(outbox_id, attempt), task_id=f"outbox-{outbox_id}-{attempt}",
                retry=False, producer=producer,
            )  # fmt: skip
            self._sent += 1
        deadline = time.monotonic() + CONFIRM_TIMEOUT_SECONDS
        while self._confirmed < self._sent and not self._refused:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskNotConfirmed(f"{self._sent - self._confirmed} task(s) not confirmed in time")
            self._connection.drain_events(timeout=remaining)  # type: ignore[union-attr]
        if self._refused:
            raise TaskNotConfirmed("the broker refused a task (nack)")

    def _confirm_channel(self) -> Any:
        if self._channel is None:
            # Without the transport's confirm_publish, which would wait after each message.
            options = {
                k: v for k, v in self._app.conf.broker_transport_options.items() if k != "confirm_publish"
            }
            self._connection = Connection(self._app.conf.broker_url, transport_options=options)
            channel = self._connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._channel, self._sent, self._confirmed, self._refused = channel, 0, 0, False
        return self._channel

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._confirmed = max(self._confirmed, delivery_tag) if multiple else self._confirmed + 1

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._refused = True

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to do with it
                connection.release()
