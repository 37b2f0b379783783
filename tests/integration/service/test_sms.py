"""SMS notifications through the outbox against the real database and a fake SMSC on a real socket:
an attempt records each part the SMSC accepted, a retry submits only what is missing, and the
receipt listener writes each receipt beside its part.

The broker is a port here (tests/integration/service/test_delivery.py explains why); the worker
resolves ``applicant-sms`` through the same ConnectorRegistry the Celery worker builds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from uuid import UUID

import pytest

from connectors.mail.sms import APPLICANT_SMS
from connectors.mail.sms.connector import SmppConnector
from connectors.mail.sms.receipts import ReceiptListener
from gateway.adapters.db import outbox as outbox_db
from gateway.adapters.db import sms as sms_db
from gateway.domain.delivery import DeliveryError
from gateway.faces.worker.connectors import ConnectorRegistry, smsc_account
from gateway.service import delivery, sms
from gateway.simulators.smsc import FakeSmsc
from tests.integration.connectors.mail.sms_messages import PHONE, message, payload
from tests.integration.service.test_delivery import POLICY, RecordingPublisher, _registered_appeal, _row


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc(system_id="hub", password="secret") as fake:
        yield fake


@pytest.fixture
def sms_settings(settings, smsc: FakeSmsc):
    return settings.model_copy(
        update={"smpp_host": smsc.host, "smpp_port": smsc.port, "smpp_system_id": "hub",
                "smpp_password": "secret", "smpp_source_addr": "Obrashch21"}
    )  # fmt: skip


def _enqueue_sms(hub, appeal_id: UUID, kind: str = "registered") -> int:
    """What the notification hook writes: one ``applicant-sms`` row per event (its seq, its key)."""
    body = payload(kind, appeal_id=str(appeal_id), seq=1)
    with hub.pool.connection() as conn, conn.transaction():
        outbox_db.enqueue(conn, APPLICANT_SMS, appeal_id, 1, f"{APPLICANT_SMS}:{appeal_id}:1", body)
        row = conn.execute(
            "SELECT id FROM outbox_message WHERE connector = %s AND appeal_id = %s",
            (APPLICANT_SMS, appeal_id),
        ).fetchone()
    return row["id"]


def _publish_only(hub, outbox_id: int) -> int:
    """Publish what is due; the attempt number the relay gave ``outbox_id``."""
    publisher = RecordingPublisher()
    delivery.relay_once(hub, publisher)
    return dict(publisher.published)[outbox_id]


def test_a_retry_after_throttling_submits_only_the_parts_the_smsc_has_not_taken(
    hub, portal, sms_settings, smsc: FakeSmsc
) -> None:
    smsc.throttle = {2}  # the SMSC takes part 1, then throttles part 2
    appeal_id = _registered_appeal(hub, portal)
    outbox_id = _enqueue_sms(hub, appeal_id)
    registry = ConnectorRegistry(sms_settings, hub)

    attempt = _publish_only(hub, outbox_id)
    assert delivery.attempt(hub, outbox_id, attempt, registry.resolve, POLICY) == "retry"
    row = _row(hub, outbox_id)
    assert row["last_error"] == "the SMSC refused part 2 of 3: ESME_RTHROTTLED"
    assert (row["next_attempt_at"] - row["last_attempt_at"]).total_seconds() >= 10  # the SMSC's wait
    assert [p["part"] for p in sms.sms_parts(hub, outbox_id)] == [1]

    with hub.pool.connection() as conn:  # ten seconds later
        conn.execute(
            "UPDATE outbox_message SET next_attempt_at = clock_timestamp() WHERE id = %s", (outbox_id,)
        )
    attempt = _publish_only(hub, outbox_id)
    assert delivery.attempt(hub, outbox_id, attempt, registry.resolve, POLICY) == "delivered"

    parts = sms.sms_parts(hub, outbox_id)
    assert [(p["part"], p["parts"]) for p in parts] == [(1, 3), (2, 3), (3, 3)]
    assert [p["message_id"] for p in parts] == [m.message_id for m in smsc.submitted]  # part 1 sent once
    assert [m.udh[5] for m in smsc.submitted] == [1, 2, 3]
    assert len({m.udh[3] for m in smsc.submitted}) == 1  # one reference: the handset joins them
    assert {m.destination_addr for m in smsc.submitted} == {PHONE[1:]}


def test_receipts_are_recorded_beside_their_parts(hub, portal, sms_settings, smsc: FakeSmsc) -> None:
    appeal_id = _registered_appeal(hub, portal)
    outbox_id = _enqueue_sms(hub, appeal_id, "closed")
    stop = threading.Event()
    listener = ReceiptListener(smsc_account(sms_settings), sms.receipt_recorder(hub))
    thread = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert listener.bound.wait(5)
        registry = ConnectorRegistry(sms_settings, hub)
        attempt = _publish_only(hub, outbox_id)
        assert delivery.attempt(hub, outbox_id, attempt, registry.resolve, POLICY) == "delivered"
        deadline = time.monotonic() + 10
        while {p["receipt_state"] for p in sms.sms_parts(hub, outbox_id)} != {"DELIVRD"}:
            assert time.monotonic() < deadline, sms.sms_parts(hub, outbox_id)
            time.sleep(0.05)
        # a late intermediate report does not undo the final one
        smsc.send_receipt(smsc.submitted[0], "ENROUTE")
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=10)

    parts = sms.sms_parts(hub, outbox_id)
    assert [p["receipt_state"] for p in parts] == ["DELIVRD", "DELIVRD"]
    assert all(p["received_at"] and p["done_at"] for p in parts)
    assert smsc.receipts_acknowledged == [m.message_id for m in smsc.submitted] + [
        smsc.submitted[0].message_id
    ]


def test_the_registry_builds_the_sms_connector_only_when_configured(hub, settings, sms_settings) -> None:
    assert isinstance(ConnectorRegistry(sms_settings, hub).resolve(APPLICANT_SMS, {}), SmppConnector)
    with pytest.raises(DeliveryError) as missing:
        ConnectorRegistry(settings, hub).resolve(APPLICANT_SMS, {})
    assert missing.value.permanent and "GATEWAY_SMPP_HOST" in missing.value.reason


def test_a_repeated_receipt_is_one_row(hub) -> None:
    with hub.pool.connection() as conn:
        sms_db.record_receipt(conn, "R-1", "ACCEPTD", None, None)
        sms_db.record_receipt(conn, "R-1", "UNDELIV", "005", None)
        sms_db.record_receipt(conn, "R-1", "UNDELIV", "005", None)
        rows = conn.execute("SELECT state, error_code FROM sms_receipt WHERE message_id = 'R-1'").fetchall()
    assert rows == [{"state": "UNDELIV", "error_code": "005"}]


def test_an_attempt_lost_after_the_smsc_took_every_part_sends_nothing_again(
    hub, sms_settings, smsc: FakeSmsc
) -> None:
    connector = ConnectorRegistry(sms_settings, hub).resolve(APPLICANT_SMS, {})
    sms_message = message("closed", outbox_id=900_001)
    connector.deliver(sms_message)
    assert len(smsc.submitted) == 2 and len(smsc.binds) == 1

    connector.deliver(replace(sms_message, attempt=2))  # the worker died before writing "delivered"

    assert len(smsc.submitted) == 2 and len(smsc.binds) == 1  # not even a bind
