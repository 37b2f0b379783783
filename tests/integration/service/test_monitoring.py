"""Operators' views against state made by the real paths: intake, leases and acks, refusals, delivery
attempts, and a real RabbitMQ queue."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from celery import Celery

from gateway.adapters import broker
from gateway.domain.delivery import DeliveryError
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.service import delivery, events, intake, mailbox, monitoring
from gateway.simulators.samples import sample_appeal
from tests.integration.service.test_delivery import POLICY, Receiver, RecordingPublisher

AGENCY = "ADM-CHEBOKSARY"
OPERATOR = "operator:test"


def _mailbox(hub, code: str = AGENCY) -> monitoring.MailboxView:
    (view,) = [m for m in monitoring.mailboxes(hub) if m.agency_code == code]
    return view


def _counts(view: monitoring.MailboxView) -> tuple[int, int, int, int]:
    return view.pending, view.leased, view.redelivered, view.refused


def test_mailboxes_show_pending_leased_redelivered_refused_and_the_last_pull(hub, portal):
    assert _mailbox(hub).last_pull_at is None
    for n in range(3):
        intake.accept(hub, portal.envelope(sample_appeal(n)))
    assert _counts(_mailbox(hub)) == (3, 0, 0, 0)
    assert _mailbox(hub).oldest_pending_age_s >= 0
    refused, held = mailbox.lease(hub, AGENCY, 2)
    mailbox.acknowledge(
        hub, AGENCY, [mailbox.Ack(refused.message_id, refused.lease_token, False, "no executor")]
    )
    view = _mailbox(hub)
    assert _counts(view) == (1, 1, 0, 1)
    assert view.last_pull_at is not None and view.last_ack_at is not None
    assert _mailbox(hub, "MINSTROY-21").last_pull_at is None  # never pulled: an operator's first question

    # An EDMS crashed holding a lease: the operator releases it, and the old token no longer acks.
    assert mailbox.release_lease(hub, OPERATOR, held.message_id) == held.appeal_id
    assert _counts(_mailbox(hub)) == (2, 0, 0, 1)
    (stale,) = mailbox.acknowledge(hub, AGENCY, [mailbox.Ack(held.message_id, held.lease_token)])
    assert stale.outcome is mailbox.AckOutcome.LEASE_INVALID
    again = mailbox.lease(hub, AGENCY, 10)
    assert {m.message_id: m.delivery_count for m in again}[held.message_id] == 2
    assert _counts(_mailbox(hub)) == (0, 2, 1, 1)

    # The cause of the refusal is fixed: the operator offers the message again.
    assert mailbox.requeue_refused(hub, OPERATOR, refused.message_id) == refused.appeal_id
    assert _counts(_mailbox(hub)) == (1, 2, 1, 0)
    (offered,) = mailbox.lease(hub, AGENCY, 10)
    assert (offered.message_id, offered.delivery_count) == (refused.message_id, 2)
    with hub.pool.connection() as conn:
        actions = [r["action"] for r in conn.execute("SELECT action FROM audit_record ORDER BY id")]
    assert actions.count("lease-released") == 1 and actions.count("requeued") == 1


def test_releasing_or_requeueing_a_message_in_another_state_is_refused(hub, portal):
    intake.accept(hub, portal.envelope(sample_appeal(1)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    for action, expected in ((mailbox.requeue_refused, "leased, not refused"),):
        with pytest.raises(Rejection) as refused:
            action(hub, OPERATOR, leased.message_id)
        assert (refused.value.code, expected in refused.value.detail) == (Code.ILLEGAL_TRANSITION, True)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    with pytest.raises(Rejection) as refused:
        mailbox.release_lease(hub, OPERATOR, leased.message_id)
    assert "acknowledged, not leased" in refused.value.detail
    with pytest.raises(Rejection) as refused:
        mailbox.release_lease(hub, OPERATOR, uuid.uuid4())
    assert refused.value.code is Code.NOT_FOUND


def _registered(hub, portal, n: int) -> uuid.UUID:
    receipt = intake.accept(hub, portal.envelope(sample_appeal(n)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    fields = {"registration_number": f"ОГ-{n}", "registered_on": date.today().isoformat()}
    events.record(hub, AGENCY, receipt.appeal_id, parse_event(f"reg-{n}", "registered", fields))
    return receipt.appeal_id


def test_deliveries_show_what_is_open_per_connector_and_why_it_is_stuck(hub, portal):
    dead_appeal, retrying_appeal, _ = (_registered(hub, portal, n) for n in range(3))
    publisher = RecordingPublisher()
    assert delivery.relay_once(hub, publisher).published == 3
    for (outbox_id, attempt), error in zip(
        publisher.published,
        (
            DeliveryError("cabinet refused: 422 invalid-update", permanent=True),
            DeliveryError("cabinet answered 503", retry_after=600),
        ),
        strict=False,
    ):
        delivery.attempt(hub, outbox_id, attempt, Receiver([error]).resolve, POLICY)
    view = monitoring.deliveries(hub)
    (cabinet,) = view.by_connector
    assert (cabinet["connector"], cabinet["in_flight"], cabinet["retrying"], cabinet["dead"]) == (
        "cabinet",
        1,
        1,
        1,
    )
    assert [(d["status"], d["appeal_id"], d["last_error"]) for d in view.stuck] == [
        ("dead", dead_appeal, "cabinet refused: 422 invalid-update"),
        ("retrying", retrying_appeal, "cabinet answered 503"),
    ]
    assert view.stuck[1]["next_attempt_at"] > view.stuck[1]["last_attempt_at"]
    assert monitoring.deliveries(hub, connector="sed-push").by_connector == []


def test_a_timeline_is_found_by_hub_id_portal_id_or_registration_number(hub, portal):
    appeal_id = _registered(hub, portal, 7)
    with hub.pool.connection() as conn:
        portal_id = conn.execute("SELECT portal_appeal_id FROM appeal WHERE id = %s", (appeal_id,)).fetchone()
    for ref in (str(appeal_id), portal_id["portal_appeal_id"], "ОГ-7"):
        (story,) = monitoring.timeline(hub, ref)
        assert story["appeal"]["id"] == appeal_id
        assert [a["action"] for a in story["audit"]] == [
            "received",
            "routed",
            "leased",
            "acknowledged",
            "registered",
        ]
        assert [e["type"] for e in story["events"]] == ["registered"]
        assert [(m["kind"], m["delivery_count"]) for m in story["messages"]] == [("appeal", 1)]
        assert [(d["connector"], d["status"]) for d in story["deliveries"]] == [("cabinet", "pending")]
    with pytest.raises(Rejection) as refused:
        monitoring.timeline(hub, "ОГ-404")
    assert refused.value.code is Code.NOT_FOUND


def test_a_redirected_appeal_is_found_by_its_first_number(hub, portal):
    appeal_id = _registered(hub, portal, 8)
    redirect = parse_event("rd-1", "redirected", {"target_agency": "MINSTROY-21", "reason": "не наше"})
    events.record(hub, AGENCY, appeal_id, redirect)
    (story,) = monitoring.timeline(hub, "ОГ-8")
    assert (story["appeal"]["id"], story["appeal"]["agency_code"]) == (appeal_id, "MINSTROY-21")
    assert [e["type"] for e in story["events"]] == ["registered", "redirected"]


def test_the_broker_view_reads_a_real_rabbitmq_queue(session_hub, broker_url):
    queue = f"deliveries-ops-{uuid.uuid4().hex[:8]}"
    settings = session_hub.settings.model_copy(update={"broker_url": broker_url, "delivery_queue": queue})
    hub = replace(session_hub, settings=settings)
    assert monitoring.broker(hub).queues[0].messages is None  # not declared yet
    app = Celery("ops-test")
    broker.configure(app, settings)
    broker.declare_queues(app)
    try:
        broker.TaskPublisher(app).publish(1, 1)
        status = monitoring.broker(hub)
        assert (status.transport, status.reachable) == ("amqp", True)
        assert [(q.name, q.messages, q.consumers) for q in status.queues] == [
            (queue, 1, 0),
            (queue + ".dead", 0, 0),
        ]
        assert status.workers == ()  # nobody consumes this queue's broadcasts here
    finally:
        with app.connection_for_write() as conn:
            for name in (queue, queue + ".dead"):
                conn.default_channel.queue_delete(name)
            conn.default_channel.exchange_delete(queue)
            conn.default_channel.exchange_delete(queue + ".dlx")
        app.close()
    down = replace(
        hub, settings=settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    )
    assert monitoring.broker(down).reachable is False
