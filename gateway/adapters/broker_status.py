"""What the broker says about the delivery queues and the workers consuming them, for operators.

On RabbitMQ a passive declare over AMQP answers with a queue's depth and its consumer count
without changing anything (the management plugin may be off), and a Celery broadcast names the
live workers consuming the hub's queue. On the filesystem transport of ``make run`` the depth is
the number of message files waiting; it knows nothing of consumers, and workers take no remote
control there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amqp.exceptions import NotFound
from celery import Celery
from kombu import Connection

from gateway.adapters.broker import configure, is_amqp
from gateway.config import Settings

TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    messages: int | None  # None: the queue does not exist (yet)
    consumers: int | None  # None: the transport cannot tell


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    transport: str
    reachable: bool
    queues: tuple[QueueDepth, ...] = ()
    workers: tuple[str, ...] | None = None  # None: the transport cannot tell, or the ping failed
    error: str | None = None


def _queue_names(settings: Settings) -> list[str]:
    name = settings.delivery_queue
    return [name, name + ".dead"] if is_amqp(settings.broker) else [name]


def reachable(settings: Settings) -> bool:
    """Whether a connection to the broker opens within the timeout (the filesystem always does)."""
    if not is_amqp(settings.broker):
        return True
    try:
        with Connection(settings.broker, connect_timeout=TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    except Exception:  # any failure is "unreachable"; the caller reports which check failed
        return False
    return True


def status(settings: Settings, *, ping_workers: bool = True) -> BrokerStatus:
    url = settings.broker
    if not is_amqp(url):
        folder = settings.data_dir / "broker" / "queue"
        return BrokerStatus("filesystem", True, tuple(_file_depth(folder, q) for q in _queue_names(settings)))
    try:
        queues = tuple(_amqp_depth(url, q) for q in _queue_names(settings))
    except Exception as exc:  # the broker is down or refuses us: say so, do not fail the view
        return BrokerStatus("amqp", False, error=type(exc).__name__)
    return BrokerStatus("amqp", True, queues, _workers(settings) if ping_workers else None)


def _amqp_depth(url: str, queue: str) -> QueueDepth:
    with Connection(url, connect_timeout=TIMEOUT_SECONDS) as conn:
        channel = conn.channel()
        try:
            _, messages, consumers = channel.queue_declare(queue, passive=True)
        except NotFound:  # the channel is closed by the broker; the connection goes with it
            return QueueDepth(queue, None, None)
        return QueueDepth(queue, messages, consumers)


def _file_depth(folder: Path, queue: str) -> QueueDepth:
    count = sum(1 for _ in folder.glob(f"*.{queue}.msg")) if folder.is_dir() else 0
    return QueueDepth(queue, count, None)


def _workers(settings: Settings) -> tuple[str, ...] | None:
    """The live workers consuming this hub's delivery queue, or None when asking them failed.

    Celery's broadcast reaches every worker on the virtual host, another hub's (or a test run's)
    included, so each is asked which queues it consumes (``active_queues``, a ping that answers
    with its queues) and only those taking ours are named. The question goes over a connection of
    its own: Celery would take one from kombu's process-wide pool, where a connection the broker
    dropped (a restart) waits to fail the next one.
    """
    app = Celery("appeals-gateway-ops")
    configure(app, settings)
    try:
        with Connection(settings.broker, connect_timeout=TIMEOUT_SECONDS) as conn:
            replies = app.control.inspect(timeout=1.0, connection=conn).active_queues() or {}
    except Exception:  # the queues were read a moment ago: say "unknown", do not fail the view
        return None
    finally:
        app.close()
    ours = settings.delivery_queue
    return tuple(
        sorted(name for name, queues in replies.items() if any(q.get("name") == ours for q in queues))
    )
