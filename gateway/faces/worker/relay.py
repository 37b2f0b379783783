"""The outbox relay's loop: publish what is due as soon as PostgreSQL says something was written.

It listens on the ``outbox`` channel (a trigger notifies on every insert), and polls every
``relay_poll_seconds`` anyway for scheduled retries and for notifications missed while it was
reconnecting. Several relays may run at once: each claims rows with ``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg

from gateway.adapters import broker
from gateway.config import Settings
from gateway.service import delivery
from gateway.service.hub import Hub

log = logging.getLogger(__name__)

RECLAIM_EVERY_SECONDS = 10.0
BATCH = 100


def run_relay(hub: Hub, publisher: delivery.Publisher, settings: Settings, stop: threading.Event) -> None:
    """Relay until ``stop`` is set; survives the broker and the database going away and coming back."""
    policy = delivery.retry_policy(settings)
    lost_after = timedelta(seconds=settings.delivery_lost_after_seconds)
    listener: psycopg.Connection | None = None
    last_reclaim = 0.0
    pause = 0.0
    while not stop.is_set():
        try:
            if listener is None or listener.closed:
                listener = psycopg.connect(hub.database_url, autocommit=True)
                listener.execute("LISTEN outbox")
            run = delivery.relay_once(hub, publisher, batch=BATCH)
            if time.monotonic() - last_reclaim > RECLAIM_EVERY_SECONDS:
                delivery.reclaim_lost(hub, policy, lost_after)
                last_reclaim = time.monotonic()
        except psycopg.OperationalError as exc:
            log.warning("relay: database unavailable (%s); retrying", type(exc).__name__)
            listener = None
            pause = min(max(pause * 2, 0.5), 10.0)
            stop.wait(pause)
            continue
        if run.broker_error:
            pause = min(max(pause * 2, 0.5), 10.0)
            stop.wait(pause)
            continue
        pause = 0.0
        if run.published == BATCH:
            continue  # more is due right now
        try:
            for _ in listener.notifies(timeout=settings.relay_poll_seconds, stop_after=1):
                pass
        except psycopg.OperationalError:
            listener = None
    if listener is not None:
        listener.close()


def serve_relay(hub: Hub, settings: Settings, stop: threading.Event) -> None:
    """Run the relay against the configured broker (the ``relay`` command and ``worker``'s child)."""
    from gateway.faces.worker.tasks import app

    broker.declare_queues(app)
    log.info("relay: publishing due deliveries to %s", app.conf.task_default_queue)
    poller = start_mail_poller(hub, settings, stop)
    releaser = start_hold_releaser(hub, settings, stop)
    folder = start_analytics_folder(hub, settings, stop)
    sealer = start_audit_sealer(hub, settings, stop)
    try:
        run_relay(hub, broker.TaskPublisher(app), settings, stop)
    finally:
        if poller is not None:
            poller.join(timeout=settings.mail_timeout_seconds)
        if releaser is not None:
            releaser.join(timeout=settings.clamd_timeout_seconds)
        if folder is not None:
            folder.join(timeout=30)
        if sealer is not None:
            sealer.join(timeout=30)


def start_hold_releaser(hub: Hub, settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """Scan appeals held for a scan again, in a thread of this process (as the mail poller, for the
    same reasons), when intake is fail-open (``GATEWAY_ANTIVIRUS_OUTAGE=hold``) with a clamd."""
    if (
        not settings.clamd_address
        or settings.antivirus_outage != "hold"
        or settings.antivirus_release_seconds <= 0
    ):
        return None
    from gateway.service.holds import run_periodically

    every = settings.antivirus_release_seconds
    thread = threading.Thread(
        target=run_periodically, args=(hub, every, stop), name="hold-releaser", daemon=True
    )
    thread.start()
    log.info("relay: scanning held appeals every %s s", every)
    return thread


def start_mail_poller(hub: Hub, settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """Poll the IMAP mailboxes in a thread of this process, when any are configured.

    Here rather than in Celery beat: the hub runs no beat process today, and one would be another
    singleton to deploy and watch; the relay already runs wherever deliveries do. Polling is I/O
    on a timer, not work to spread over workers. Several relays may poll: each mailbox is polled by
    one at a time (an advisory lock), and filing is idempotent anyway.
    """
    if not settings.mail_mailboxes or settings.mail_poll_seconds <= 0:
        return None
    from connectors.mail.imap import open_mailbox
    from gateway.service.incoming_mail import PeriodicPoller

    thread = threading.Thread(
        target=PeriodicPoller(hub, open_mailbox, stop).run, name="mail-poller", daemon=True
    )
    thread.start()
    count, every = len(settings.mail_mailboxes), settings.mail_poll_seconds
    log.info("relay: polling %d mailbox(es) every %s s", count, every)
    return thread


def start_analytics_folder(hub: Hub, settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """Fold the analytics deltas into the cube on a timer, in a thread of this process (as the
    mail poller, and for the same reasons): reports fold before they read anyway, this keeps the
    log they fold short and the BI views current. Several relays may fold: one at a time (the
    fold's advisory lock)."""
    if settings.analytics_fold_seconds <= 0:
        return None
    from gateway.service.analytics import PeriodicFold

    return _in_thread("analytics-fold", PeriodicFold(hub, settings.analytics_fold_seconds, stop).run)


def start_audit_sealer(hub: Hub, settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """Chain the committed audit records into the hash chain on a short timer, in a thread of this
    process (as the analytics fold): the relay runs wherever the hub does, so the window in which
    a record is not chained yet stays under a second. Several relays may seal: one at a time (the
    chain head's row lock, skipped by the others)."""
    if settings.audit_seal_interval_seconds <= 0:
        return None
    from gateway.service.audit_chain import PeriodicSeal

    return _in_thread("audit-sealer", PeriodicSeal(hub, settings.audit_seal_interval_seconds, stop).run)


def _in_thread(name: str, run: Callable[[], None]) -> threading.Thread:
    """``run`` started in a daemon thread of this process named ``name`` (the relay's timers)."""
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
