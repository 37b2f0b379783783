"""SMS notifications as deployed: `appeals-gateway worker` (relay and Celery on the real RabbitMQ)
submits an ``applicant-sms`` outbox message to a fake SMSC on a real socket, and
`appeals-gateway sms-receipts` records the receipts the SMSC kept while no listener was bound."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from kombu import Connection

from connectors.mail.sms.receipts import ReceiptListener
from gateway.faces.worker.connectors import ConnectorRegistry, smsc_account
from gateway.service import delivery, sms
from gateway.simulators.smsc import FakeSmsc
from tests.conftest import OPERATOR_TOKEN
from tests.e2e.processes import running, wait_for
from tests.integration.service.test_delivery import POLICY, _registered_appeal
from tests.integration.service.test_sms import _enqueue_sms, _publish_only


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


def test_operators_see_what_the_receipts_said_over_rest_and_the_cli(hub, portal, hub_url, settings) -> None:
    """A receipt is to an SMS what a bounce is to an e-mail: the SMSC took the parts (the delivery
    is delivered), the handset never got them. Operators see it among the deliveries and in the
    appeal's timeline, in the REST views and the CLI alike."""
    with FakeSmsc(system_id="hub", password="secret", receipts="UNDELIV") as smsc:
        configured = settings.model_copy(
            update={"smpp_host": smsc.host, "smpp_port": smsc.port, "smpp_system_id": "hub",
                    "smpp_password": "secret", "smpp_source_addr": "Obrashch21"}
        )  # fmt: skip
        appeal_id = _registered_appeal(hub, portal)
        outbox_id = _enqueue_sms(hub, appeal_id)
        stop = threading.Event()
        listener = ReceiptListener(smsc_account(configured), sms.receipt_recorder(hub))
        thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        thread.start()
        try:
            assert listener.bound.wait(5)
            attempt = _publish_only(hub, outbox_id)
            resolve = ConnectorRegistry(configured, hub).resolve
            assert delivery.attempt(hub, outbox_id, attempt, resolve, POLICY) == "delivered"
            wait_for(
                lambda: {p["receipt_state"] for p in sms.sms_parts(hub, outbox_id)} == {"UNDELIV"},
                10, "the receipts recorded",
            )  # fmt: skip
        finally:
            stop.set()
            thread.join(timeout=10)
    parts = len(smsc.submitted)

    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    with httpx.Client(base_url=hub_url, headers=operator, timeout=30) as client:
        view = client.get("/ops/v1/deliveries", params={"connector": "applicant-sms"}).json()
        (story,) = client.get("/ops/v1/timeline", params={"ref": str(appeal_id)}).json()["appeals"]
    mine = [d for d in view["undelivered_sms"] if d["id"] == outbox_id]
    assert sorted((d["part"], d["parts"], d["state"], d["error"]) for d in mine) == [
        (n, parts, "UNDELIV", "001") for n in range(1, parts + 1)
    ]
    (shown,) = [d for d in story["deliveries"] if d["id"] == outbox_id]
    assert shown["status"] == "delivered"
    assert [(r["part"], r["state"], r["error"]) for r in shown["receipts"]] == [
        (n, "UNDELIV", "001") for n in range(1, parts + 1)
    ]

    env = {**os.environ, "DATABASE_URL": settings.database_url, "GATEWAY_DATA_DIR": str(settings.data_dir)}
    cli = [sys.executable, "-m", "gateway.faces.cli.main", "ops"]
    listed = subprocess.run([*cli, "deliveries"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "SMS the handset did not get" in listed.stdout
    rows = [line.split() for line in listed.stdout.splitlines() if str(appeal_id) in line]
    assert sorted(r[3:6] for r in rows) == [[f"{n}/{parts}", "UNDELIV", "001"] for n in range(1, parts + 1)]
    timeline = subprocess.run([*cli, "timeline", str(appeal_id)], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    assert timeline.returncode == 0, timeline.stderr
    assert f"part 1/{parts}: receipt UNDELIV err:001" in timeline.stdout
