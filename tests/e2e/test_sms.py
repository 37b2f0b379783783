"""SMS notifications as deployed: `appeals-gateway worker` (relay and Celery on the real RabbitMQ)
submits an ``applicant-sms`` outbox message to a fake SMSC on a real socket, and
`appeals-gateway sms-receipts` records the receipts the SMSC kept while no listener was bound."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from gateway.service import sms
from gateway.simulators.smsc import FakeSmsc
from tests.e2e.processes import running, wait_for
from tests.integration.service.test_delivery import _registered_appeal
from tests.integration.service.test_sms import _enqueue_sms


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(system_id="hub", password="secret", throttle_first=1) as fake:
        yield fake


@pytest.fixture
def env(settings, broker_url, smsc: FakeSmsc) -> Iterator[dict[str, str]]:
    queue = f"deliveries-test-{uuid.uuid4().hex[:8]}"
    yield {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DELIVERY_QUEUE": queue,
        "GATEWAY_RELAY_POLL_SECONDS": "0.2",
        "GATEWAY_WORKER_CONCURRENCY": "1",
        "GATEWAY_SMPP_HOST": smsc.host,
        "GATEWAY_SMPP_PORT": str(smsc.port),
        "GATEWAY_SMPP_SYSTEM_ID": "hub",
        "GATEWAY_SMPP_PASSWORD": "secret",
        "GATEWAY_SMPP_SOURCE_ADDR": "Obrashch21",
    }
    with Connection(broker_url) as conn:
        for name in (queue, queue + ".dead"):
            with contextlib.suppress(Exception):  # never declared in this test: nothing to clean
                conn.default_channel.queue_delete(name)


def test_an_sms_is_submitted_by_the_worker_and_its_receipts_recorded_by_the_listener(
    env, tmp_path, hub, portal, smsc: FakeSmsc
) -> None:
    appeal_id = _registered_appeal(hub, portal)
    outbox_id = _enqueue_sms(hub, appeal_id)

    def delivered() -> bool:
        with hub.pool.connection() as conn:
            row = conn.execute(
                "SELECT delivered_at FROM outbox_message WHERE id = %s", (outbox_id,)
            ).fetchone()
        return row["delivered_at"] is not None

    with running(["worker"], env, tmp_path) as worker:
        # the first submit is throttled: the SMSC asks for 10 s, so the retry comes after that
        wait_for(delivered, 60, "the SMS to be accepted by the SMSC", worker)
    assert smsc.throttled == 1 and len(smsc.submitted) == 3
    parts = sms.sms_parts(hub, outbox_id)
    assert [p["message_id"] for p in parts] == [m.message_id for m in smsc.submitted]
    assert {p["receipt_state"] for p in parts} == {None}  # nobody was listening yet

    with running(["sms-receipts"], env, tmp_path) as listener:
        wait_for(
            lambda: {p["receipt_state"] for p in sms.sms_parts(hub, outbox_id)} == {"DELIVRD"},
            30, "the receipts the SMSC kept to be recorded", listener,
        )  # fmt: skip
    assert sorted(smsc.receipts_acknowledged) == sorted(m.message_id for m in smsc.submitted)
    assert ("receiver", "hub", 0) in smsc.binds
    assert "79001234567" not in worker.output() + listener.output()  # no phone number in the logs
