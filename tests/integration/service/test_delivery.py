"""The outbox's delivery rules against the real database: what the relay publishes, what an
attempt writes back, when a delivery is retried, dead, replayed or counted lost.

The broker is a port here (a publisher that records, or fails); the real RabbitMQ and Celery
workers are exercised end to end in tests/e2e/test_delivery.py. The cabinet is a receiver
played in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pytest

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
