"""The outbox's delivery rules against the real database: what the relay publishes, what an
attempt writes back, when a delivery is retried, dead, replayed or counted lost.

The broker is a port here (a publisher that records, or fails); the real RabbitMQ and Celery
workers are exercised end to end in tests/e2e/test_delivery.py. The cabinet is a receiver
played in-process.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import DeliveryError, OutgoingMessage, RetryPolicy
from gateway.domain.events import parse_event
from gateway.service import delivery, events, intake, mailbox
from gateway.service.cabinet_updates import CABINET
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"
POLICY = RetryPolicy(base=timedelta(milliseconds=1), cap=timedelta(hours=2), max_age=timedelta(hours=1))


@dataclass
class RecordingPublisher:
    published: list[tuple[int, int]] = field(default_factory=list)
    fail_after: int | None = None

    def publish(self, outbox_id: int, attempt: int) -> None:
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            raise ConnectionError("broker away")
        self.published.append((outbox_id, attempt))


@dataclass
class Receiver:
    """The cabinet, played: fails with the scripted errors first, then takes everything."""

    script: list[Exception] = field(default_factory=list)
    received: list[OutgoingMessage] = field(default_factory=list)

    def deliver(self, message: OutgoingMessage) -> None:
        if self.script:
            raise self.script.pop(0)
        self.received.append(message)

    def resolve(self, name: str, payload) -> Receiver:
        assert name == CABINET
        return self


def _registered_appeal(hub, portal) -> UUID:
    """An appeal pushed, taken by its agency and registered: one cabinet update in the outbox."""
    receipt = intake.accept(hub, portal.envelope(sample_appeal(0)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    number = f"R-{receipt.appeal_id.hex[:8]}"
    event = parse_event("ev-1", "registered", {"registration_number": number, "registered_on": "2026-11-25"})
    events.record(hub, AGENCY, receipt.appeal_id, event)
    return receipt.appeal_id


def _row(hub, outbox_id: int) -> dict:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT * FROM outbox_message WHERE id = %s", (outbox_id,)).fetchone()


def _publish(hub) -> tuple[int, int]:
    publisher = RecordingPublisher()
    assert delivery.relay_once(hub, publisher).published == 1
    return publisher.published[0]


def test_the_relay_publishes_a_due_message_once(hub, portal) -> None:
    _registered_appeal(hub, portal)
    publisher = RecordingPublisher()
    assert delivery.relay_once(hub, publisher).published == 1
    assert delivery.relay_once(hub, publisher).published == 0
    ((outbox_id, attempt),) = publisher.published
    assert attempt == 1 and _row(hub, outbox_id)["published_at"] is not None


def test_a_broker_failure_leaves_unconfirmed_messages_due(hub, portal) -> None:
    _registered_appeal(hub, portal)
    _registered_appeal(hub, portal)
    run = delivery.relay_once(hub, RecordingPublisher(fail_after=1))
    assert (run.published, run.broker_error) == (1, "ConnectionError")
    publisher = RecordingPublisher()
    assert delivery.relay_once(hub, publisher).published == 1  # the other one, still due


def test_an_attempt_delivers_and_a_repeated_task_is_stale(hub, portal) -> None:
    appeal_id = _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    receiver = Receiver()
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "delivered"
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "stale"
    (message,) = receiver.received
    assert message.appeal_id == appeal_id and message.payload["type"] == "registered"
    assert message.idempotency_key == f"cabinet:{appeal_id}:{message.seq}" and message.attempt == 1
    row = _row(hub, outbox_id)
    assert row["delivered_at"] is not None and row["attempts"] == 1 and row["last_error"] is None


def test_a_failed_attempt_is_retried_later_and_the_old_task_goes_stale(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    receiver = Receiver([DeliveryError("cabinet answered 503", retry_after=1800)])
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "retry"
    row = _row(hub, outbox_id)
    assert row["published_at"] is None and row["attempts"] == 1
    assert row["last_error"] == "cabinet answered 503"
    assert row["next_attempt_at"] - row["last_attempt_at"] >= timedelta(minutes=29)  # Retry-After
    assert delivery.relay_once(hub, RecordingPublisher()).published == 0  # not due yet
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "stale"
    with hub.pool.connection() as conn:
        conn.execute("UPDATE outbox_message SET next_attempt_at = now() WHERE id = %s", (outbox_id,))
    outbox_id, attempt = _publish(hub)
    assert attempt == 2
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "delivered"
    with hub.pool.connection() as conn:
        history = conn.execute(
            "SELECT attempt, outcome, error FROM delivery_attempt WHERE outbox_id = %s ORDER BY attempt",
            (outbox_id,),
        ).fetchall()
    assert [(h["attempt"], h["outcome"]) for h in history] == [(1, "retry"), (2, "delivered")]


def test_a_permanent_failure_is_dead_until_an_operator_replays_it(hub, portal) -> None:
    appeal_id = _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    receiver = Receiver([DeliveryError("cabinet refused: 422 invalid-update", permanent=True)])
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "dead"
    assert _row(hub, outbox_id)["dead_at"] is not None
    assert delivery.relay_once(hub, RecordingPublisher()).published == 0
    revived = delivery.replay(hub, "operator:test", ids=[outbox_id])
    assert [r["id"] for r in revived] == [outbox_id]
    assert delivery.replay(hub, "operator:test", ids=[outbox_id]) == []  # no longer dead
    outbox_id, attempt = _publish(hub)
    assert attempt == 2
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "delivered"
    with hub.pool.connection() as conn:
        actions = [
            r["action"]
            for r in conn.execute(
                "SELECT action FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
            )
        ]
    assert "delivery-replayed" in actions


def test_retrying_stops_at_the_maximum_age(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    with hub.pool.connection() as conn:
        conn.execute(
            "UPDATE outbox_message SET created_at = now() - interval '2 hours' WHERE id = %s", (outbox_id,)
        )
    receiver = Receiver([DeliveryError("connection refused")])
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "dead"
    assert _row(hub, outbox_id)["last_error"] == "connection refused"


def test_a_connector_bug_is_retried_not_lost(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    receiver = Receiver([KeyError("oops")])
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "retry"
    assert _row(hub, outbox_id)["last_error"] == "unexpected KeyError in the connector"


def test_a_task_no_worker_finished_is_counted_lost_and_rescheduled(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    assert delivery.reclaim_lost(hub, POLICY, timedelta(minutes=5)) == 0  # just published
    with hub.pool.connection() as conn:
        conn.execute(
            "UPDATE outbox_message SET published_at = now() - interval '10 minutes' WHERE id = %s",
            (outbox_id,),
        )
    assert delivery.reclaim_lost(hub, POLICY, timedelta(minutes=5)) == 1
    row = _row(hub, outbox_id)
    assert row["attempts"] == 1 and row["published_at"] is None and "no worker finished" in row["last_error"]
    # the lost task, should the broker hand it over after all, no longer counts
    assert delivery.attempt(hub, outbox_id, attempt, Receiver().resolve, POLICY) == "stale"


@pytest.mark.parametrize("status", ["delivered", "dead"])
def test_replay_leaves_what_is_not_dead_alone(hub, portal, status: str) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    script = [] if status == "delivered" else [DeliveryError("gone", permanent=True)]
    delivery.attempt(hub, outbox_id, attempt, Receiver(script).resolve, POLICY)
    revived = delivery.replay(hub, "operator:test", connector="sed-push")
    assert revived == []
    assert (_row(hub, outbox_id)["dead_at"] is not None) == (status == "dead")


def test_an_appeal_redirected_to_a_push_agency_is_queued_for_its_endpoint(hub, portal) -> None:
    from tests.conftest import PUSH_AGENCY

    appeal_id = _registered_appeal(hub, portal)
    redirect = parse_event("ev-2", "redirected", {"target_agency": PUSH_AGENCY, "reason": "not ours"})
    events.record(hub, AGENCY, appeal_id, redirect)
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT payload FROM outbox_message WHERE appeal_id = %s AND connector = 'sed-push'", (appeal_id,)
        ).fetchall()
        (message,) = conn.execute(
            "SELECT id FROM mailbox_message WHERE appeal_id = %s AND agency_code = %s",
            (appeal_id, PUSH_AGENCY),
        ).fetchall()
    assert [r["payload"] for r in rows] == [{"agency_code": PUSH_AGENCY, "message_id": str(message["id"])}]


# --- the claim: no transaction open while the receiver is called, and a dead worker's claim runs out


@dataclass
class SlowReceiver(Receiver):
    """A receiver that keeps the worker waiting until the test lets it answer."""

    calling: threading.Event = field(default_factory=threading.Event)
    answer: threading.Event = field(default_factory=threading.Event)

    def deliver(self, message: OutgoingMessage) -> None:
        self.calling.set()
        assert self.answer.wait(30)
        super().deliver(message)


def _sessions_in_transaction(database_url: str) -> list[dict]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(
            """SELECT pid, state, query FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND state LIKE 'idle in transaction%%'"""
        ).fetchall()


def _row_lockable(database_url: str, outbox_id: int) -> bool:
    with psycopg.connect(database_url) as conn:
        try:
            conn.execute("SELECT 1 FROM outbox_message WHERE id = %s FOR UPDATE NOWAIT", (outbox_id,))
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            conn.rollback()
    return True


def test_a_slow_receiver_is_called_with_no_transaction_open_and_no_row_locked(
    hub, portal, database_url
) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    receiver = SlowReceiver()
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY))
    )
    worker.start()
    try:
        assert receiver.calling.wait(10)
        assert _sessions_in_transaction(database_url) == []
        assert _row_lockable(database_url, outbox_id)
        row = _row(hub, outbox_id)
        assert row["claim_token"] is not None and row["claimed_until"] > row["published_at"]
        # a second copy of the task (the broker redelivered it) finds the attempt claimed
        assert delivery.attempt(hub, outbox_id, attempt, Receiver().resolve, POLICY) == "claimed"
    finally:
        receiver.answer.set()
        worker.join(10)
    assert outcome == ["delivered"] and len(receiver.received) == 1
    row = _row(hub, outbox_id)
    assert row["delivered_at"] is not None and row["claim_token"] is None and row["claimed_until"] is None


_HANGING_WORKER = """
import sys, time
from datetime import timedelta
from gateway.config import Settings
from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import RetryPolicy
from gateway.service import delivery
from gateway.service.hub import open_hub

class Hanging:
    def deliver(self, message):
        print("calling", flush=True)
        time.sleep(600)

hub = open_hub(Settings(database_url=sys.argv[1], data_dir=sys.argv[2]), apply_migrations=False)
policy = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=1), max_age=timedelta(hours=1))
delivery.attempt(hub, int(sys.argv[3]), int(sys.argv[4]), lambda name, payload: Hanging(), policy,
                 timedelta(seconds=float(sys.argv[5])))
"""


def test_a_worker_killed_mid_call_leaves_a_claim_that_runs_out_and_is_taken_again(
    hub, portal, database_url, tmp_path
) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    claim_seconds = 2.0
    worker = subprocess.Popen(
        [sys.executable, "-c", _HANGING_WORKER, database_url, str(tmp_path), str(outbox_id), str(attempt),
         str(claim_seconds)],
        stdout=subprocess.PIPE, cwd=PROJECT_ROOT,
    )  # fmt: skip
    try:
        assert worker.stdout is not None and worker.stdout.readline() == b"calling\n"
    finally:
        worker.kill()  # SIGKILL mid-call: no outcome, no goodbye
        worker.wait(10)
    # the broker hands the unacknowledged task to another worker at once: the claim still runs
    receiver = Receiver()
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "claimed"
    assert receiver.received == []
    time.sleep(claim_seconds + 0.2)
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "delivered"
    assert len(receiver.received) == 1
    row = _row(hub, outbox_id)
    assert row["attempts"] == 1 and row["delivered_at"] is not None


def test_a_claim_that_ran_out_is_counted_lost_by_the_relay_and_attempted_again(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    claim = delivery.claim_attempt(hub, outbox_id, attempt, timedelta(milliseconds=50))
    assert isinstance(claim, delivery.Claim)  # ... and its worker dies: nothing more is written
    assert delivery.reclaim_lost(hub, POLICY, timedelta(minutes=15)) == 0  # the claim still runs
    time.sleep(0.1)
    assert delivery.reclaim_lost(hub, POLICY, timedelta(minutes=15)) == 1
    row = _row(hub, outbox_id)
    assert (row["attempts"], row["published_at"], row["claim_token"]) == (1, None, None)
    assert row["last_error"] == "the worker's claim ran out before it recorded an outcome"
    outbox_id, attempt = _publish(hub)
    assert attempt == 2
    receiver = Receiver()
    assert delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY) == "delivered"
    with hub.pool.connection() as conn:
        history = conn.execute(
            "SELECT attempt, outcome FROM delivery_attempt WHERE outbox_id = %s ORDER BY attempt",
            (outbox_id,),
        ).fetchall()
    assert [(h["attempt"], h["outcome"]) for h in history] == [(1, "lost"), (2, "delivered")]


def test_the_late_outcome_of_a_claim_taken_over_is_dropped(hub, portal) -> None:
    _registered_appeal(hub, portal)
    outbox_id, attempt = _publish(hub)
    first = delivery.claim_attempt(hub, outbox_id, attempt, timedelta(milliseconds=50))
    time.sleep(0.1)
    second = delivery.claim_attempt(hub, outbox_id, attempt, timedelta(minutes=1))
    assert isinstance(first, delivery.Claim) and isinstance(second, delivery.Claim)
    failed = DeliveryError("cabinet answered 503")
    assert delivery.record_outcome(hub, first, failed, POLICY) == "late"
    assert _row(hub, outbox_id)["last_error"] is None  # the first's failure did not reschedule it
    assert delivery.record_outcome(hub, second, None, POLICY) == "delivered"
    assert _row(hub, outbox_id)["delivered_at"] is not None


def test_a_task_that_arrives_before_the_relays_commit_waits_for_it(hub, portal, database_url) -> None:
    """The broker may hand the task over before the relay's transaction (that marks it published)
    commits: the claim waits on the row's lock and then sees it published, not stale."""
    _registered_appeal(hub, portal)
    with psycopg.connect(database_url) as relay:
        (outbox_id,) = relay.execute(
            "UPDATE outbox_message SET published_at = clock_timestamp() RETURNING id"
        ).fetchone()
        outcome: list[str] = []
        worker = threading.Thread(
            target=lambda: outcome.append(delivery.attempt(hub, outbox_id, 1, Receiver().resolve, POLICY))
        )
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and outcome == []  # waiting on the relay's row lock
        relay.commit()
    worker.join(10)
    assert outcome == ["delivered"]


@dataclass
class SlowPublisher(RecordingPublisher):
    """A broker that takes a moment to confirm, so two relays' runs overlap."""

    def publish(self, outbox_id: int, attempt: int) -> None:
        time.sleep(0.005)
        super().publish(outbox_id, attempt)


def test_two_relays_at_once_never_publish_one_message_twice(hub, portal) -> None:
    """Relays on two nodes claim due rows with FOR UPDATE SKIP LOCKED: each row is published by
    one of them, once, while both work the same backlog at the same time."""
    from gateway.adapters.db import outbox as outbox_db

    appeal_id = _registered_appeal(hub, portal)
    with hub.pool.connection() as conn:
        for i in range(59):
            outbox_db.enqueue(conn, CABINET, appeal_id, 100 + i, f"test-relays:{i}", {"n": i})
    relays = [SlowPublisher(), SlowPublisher()]
    start = threading.Barrier(len(relays))

    def relay(publisher: SlowPublisher) -> None:
        start.wait()
        while delivery.relay_once(hub, publisher, batch=5).published:
            pass

    threads = [threading.Thread(target=relay, args=(publisher,)) for publisher in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    published = [outbox_id for publisher in relays for outbox_id, _ in publisher.published]
    assert len(published) == len(set(published)) == 60
    assert all(publisher.published for publisher in relays)  # both took part
