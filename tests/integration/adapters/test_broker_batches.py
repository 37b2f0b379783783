"""The relay's batches on a real RabbitMQ: every task of a batch is in the queue once the batch
returns (the broker confirmed them all), in order, as Celery's delivery tasks."""

from __future__ import annotations

import json
import uuid

import pytest
from celery import Celery

from gateway.adapters import broker
from gateway.config import Settings


@pytest.fixture
def app(broker_url):
    queue = f"deliveries-batch-{uuid.uuid4().hex[:8]}"
    app = Celery("batch-test")
    broker.configure(app, Settings(broker_url=broker_url, delivery_queue=queue))
    broker.declare_queues(app)
    yield app
    with app.connection_for_write() as conn:
        for name in (queue, queue + ".dead"):
            conn.default_channel.queue_delete(name)
        conn.default_channel.exchange_delete(queue)
        conn.default_channel.exchange_delete(queue + ".dlx")


def _taken(app: Celery) -> list[tuple[str, list]]:
    """Every message in the queue (removed): the task id and its arguments."""
    taken = []
    with app.connection_for_write() as conn:
        while (
            message := conn.default_channel.basic_get(app.conf.task_default_queue, no_ack=True)
        ) is not None:
            args = json.loads(message.body)[0]
            taken.append((message.headers["id"], args))
    return taken


def test_every_task_of_each_batch_is_in_the_queue_when_the_batch_returns(app):
    publisher = broker.TaskPublisher(app)
    try:
        publisher.publish_batch([(n, 1) for n in range(1, 51)])
        assert _taken(app) == [(f"outbox-{n}-1", [n, 1]) for n in range(1, 51)]
        publisher.publish_batch([(51, 2)])  # the same channel again: its confirms counted on
        publisher.publish_batch([])
        assert _taken(app) == [("outbox-51-2", [51, 2])]
    finally:
        publisher.close()


def test_a_broken_connection_fails_the_batch_and_the_next_one_reconnects(app):
    publisher = broker.TaskPublisher(app)
    try:
        publisher.publish_batch([(1, 1)])
        publisher._connection.collect()  # the socket gone under it, as when RabbitMQ restarts
        with pytest.raises(Exception):  # noqa: B017 (whatever the transport raises)
            publisher.publish_batch([(2, 1)])
        publisher.publish_batch([(3, 1)])
        assert [task for task, _ in _taken(app)] == ["outbox-1-1", "outbox-3-1"]
    finally:
        publisher.close()
