"""The return path as deployed: EDMS events through the hub's REST face, the outbox relay and
Celery worker processes on the real RabbitMQ, and the cabinet (played on a real socket).

Each test breaks something on the way — a cabinet that fails, a worker killed mid-delivery, the
relay down between commit and publish, RabbitMQ restarted — and checks the same promise: every
update reaches the cabinet, none is lost, repeats are absorbed by the idempotency key, and the
cabinet's final state is the last in sequence.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import httpx
import psycopg
import pytest

from gateway.service import monitoring
from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.edms import Edms
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.processes import Process, running, wait_for
from tests.e2e.pushing import push_samples

AGENCY = "ADM-CHEBOKSARY"
# registered, assigned, declined, closed: four cabinet updates per appeal, closed the last
UPDATES_PER_APPEAL = 4
CLI = [sys.executable, "-m", "gateway.faces.cli.main"]


@pytest.fixture(scope="module")
def cabinet(dev_pki) -> Iterator[FakeCabinet]:
    with FakeCabinet(dev_pki.hub_cert.read_bytes()) as fake:
        yield fake


@pytest.fixture
def env(worker_env, dev_pki, cabinet) -> dict[str, str]:
    """The worker and relay processes' environment, with the cabinet played on a real socket."""
    cabinet.reset()
    return {
        **worker_env,
        "GATEWAY_CABINET_URL": cabinet.url,
        "GATEWAY_HUB_KEY": str(dev_pki.hub_key),
        "GATEWAY_HUB_CERTIFICATE": str(dev_pki.hub_cert),
    }


@pytest.fixture
def edms(hub_url, hub, registry) -> Iterator[Edms]:
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        yield Edms(client, registry[1][AGENCY])


@pytest.fixture
def portal_client(hub_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        yield client


def _work_through(portal_client, portal, edms: Edms, n: int) -> list[str]:
    """Push ``n`` appeals and take each through four events: its updates land in the outbox."""
    appeal_ids = push_samples(portal_client, portal, n)
    edms.ack(edms.pull(limit=n))
    for i, appeal_id in enumerate(appeal_ids):
        edms.register(appeal_id, f"E2E-{appeal_id[:8]}-{i}", date.today(), f"reg-{i}")
        edms.send_event(appeal_id, "assigned", f"asg-{i}", executor="Отдел ЖКХ")
        edms.send_event(appeal_id, "declined", f"dec-{i}", ground="no-question")
        edms.send_event(appeal_id, "closed", f"cls-{i}")
    return appeal_ids


def _all_delivered(cabinet: FakeCabinet, appeal_ids: list[str]) -> bool:
    return all(
        {r.update["seq"] for r in cabinet.history(a)} >= set(range(1, UPDATES_PER_APPEAL + 1))
        for a in appeal_ids
    )


def _check_final(cabinet: FakeCabinet, hub, appeal_ids: list[str], *logs: Process) -> None:
    """Every update arrived, the cabinet shows the last one, and the outbox says delivered."""
    for appeal_id in appeal_ids:
        state = cabinet.state(appeal_id)
        assert (state["state"], state["seq"]) == ("closed", UPDATES_PER_APPEAL)
        seqs = sorted(r["update"]["seq"] for r in state["history"])
        assert seqs == list(range(1, UPDATES_PER_APPEAL + 1))  # each once: repeats were absorbed

    def settled() -> bool:  # the worker writes the outcome just after the cabinet answered
        with hub.pool.connection() as conn:
            return (
                conn.execute(
                    "SELECT count(*) AS n FROM delivery WHERE status <> 'delivered' AND connector = 'cabinet'"
                ).fetchone()["n"]
                == 0
            )

    wait_for(settled, 30, "the outbox to record every delivery", *logs)


def _first_line_registered(cabinet: FakeCabinet, appeal_id: str) -> None:
    history = cabinet.history(appeal_id)
    registered = [r.update for r in history if r.update["type"] == "registered"]
    assert registered and registered[0]["access_code"]  # the applicant's code reaches the cabinet


def test_every_update_reaches_a_cabinet_that_fails_its_first_calls(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    cabinet.fail_next(5, status=503, retry_after=0.2)
    cabinet.fail_next(2, status=500)
    with running(["worker"], env, tmp_path) as worker:
        appeal_ids = _work_through(portal_client, portal, edms, 3)
        wait_for(lambda: _all_delivered(cabinet, appeal_ids), 60, "every update at the cabinet", worker)
        _check_final(cabinet, hub, appeal_ids, worker)
        # What operators see of it: the worker answers the broker's ping, the queue is drained.
        seen = monitoring.broker(
            replace(
                hub,
                settings=hub.settings.model_copy(
                    update={"broker_url": env["BROKER_URL"], "delivery_queue": env["GATEWAY_DELIVERY_QUEUE"]}
                ),
            )
        )
        assert any(name.startswith(f"deliveries-{worker.proc.pid}@") for name in seen.workers or ())
        assert (seen.queues[0].messages, seen.queues[0].consumers) == (0, 1)
    _first_line_registered(cabinet, appeal_ids[0])
    with hub.pool.connection() as conn:
        retried = conn.execute(
            "SELECT count(*) AS n FROM delivery_attempt WHERE outcome = 'retry'"
        ).fetchone()["n"]
    assert retried == 7


def test_a_worker_killed_mid_delivery_is_replaced_and_nothing_is_lost(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    cabinet.set_delay(3.0)
    first = Process(["worker"], env, tmp_path / "worker-1.log")
    try:
        appeal_ids = _work_through(portal_client, portal, edms, 1)
        wait_for(lambda: cabinet.calls >= 1, 30, "a delivery in flight", first)
        first.kill()  # SIGKILL to the whole group: the worker, its pool, its relay
    finally:
        first.stop()
    cabinet.set_delay(0.0)
    with running(["worker"], env, tmp_path) as second:
        wait_for(lambda: _all_delivered(cabinet, appeal_ids), 60, "every update at the cabinet", second)
        _check_final(cabinet, hub, appeal_ids, second)
    # the killed attempt's request reached the cabinet, which answers it after its delay to a
    # closed socket; the replacement's repeat of it, or it of the repeat, is absorbed by the key
    wait_for(lambda: cabinet.duplicates >= 1, 10, "the killed attempt's request to be absorbed")


def test_updates_committed_while_the_relay_is_down_are_published_when_it_returns(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    with running(["worker", "--no-relay"], env, tmp_path) as worker:
        appeal_ids = _work_through(portal_client, portal, edms, 2)
        with hub.pool.connection() as conn:
            waiting = conn.execute("SELECT count(*) AS n FROM delivery WHERE status = 'pending'").fetchone()
        assert waiting["n"] == 2 * UPDATES_PER_APPEAL and cabinet.calls == 0
        with running(["relay"], env, tmp_path) as relay:
            wait_for(
                lambda: _all_delivered(cabinet, appeal_ids), 60, "every update at the cabinet", worker, relay
            )
            _check_final(cabinet, hub, appeal_ids, worker, relay)


def _claims_waiting(database_url: str) -> list[int]:
    """The sessions waiting for an outbox row's lock: workers claiming while the test holds them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND query LIKE '%%FROM outbox_message%%FOR UPDATE%%'"""
        ).fetchall()
    return [pid for (pid,) in rows]


def _published(hub) -> int:
    with hub.pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) AS n FROM outbox_message"
            " WHERE connector = 'cabinet' AND published_at IS NOT NULL"
        ).fetchone()["n"]


def test_a_claim_whose_database_session_dies_is_tried_again_in_seconds_not_at_the_lost_sweep(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    """A failover under a claim: the task is sent again after a few seconds. Were it failed (and so
    acknowledged), only the relay's sweep of lost deliveries, 15 minutes on, would deliver it."""
    url = hub.settings.database_url
    with running(["relay"], env, tmp_path) as relay:
        appeal_ids = _work_through(portal_client, portal, edms, 1)
        wait_for(lambda: _published(hub) == UPDATES_PER_APPEAL, 30, "the updates published", relay)
        with psycopg.connect(url) as holder:  # every row's lock held: the workers' claims wait on it
            holder.execute("SELECT id FROM outbox_message FOR UPDATE").fetchall()
            with running(["worker", "--no-relay"], env, tmp_path) as worker:
                wait_for(lambda: _claims_waiting(url), 30, "a worker's claim to wait", worker, relay)
                with psycopg.connect(url, autocommit=True) as admin:
                    for pid in _claims_waiting(url):
                        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                holder.rollback()
                wait_for(lambda: _all_delivered(cabinet, appeal_ids), 30, "every update at the cabinet",
                         worker, relay)  # fmt: skip
                _check_final(cabinet, hub, appeal_ids, worker, relay)
                assert "sending the task again" in worker.output()


def test_a_delivery_the_cabinet_refuses_is_dead_until_replayed_from_the_cli(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    cabinet.fail_next(1, status=422, code="invalid-update")  # a permanent refusal: dead at once
    with running(["worker"], env, tmp_path) as worker:
        appeal_ids = _work_through(portal_client, portal, edms, 1)

        def dead() -> list[dict]:
            with hub.pool.connection() as conn:
                return conn.execute("SELECT id, last_error FROM delivery WHERE status = 'dead'").fetchall()

        wait_for(dead, 30, "the refused delivery to go dead", worker)
        (row,) = dead()
        assert "422" in row["last_error"] and "invalid-update" in row["last_error"]
        listing = subprocess.run(
            [*CLI, "deliveries", "list", "--status", "dead"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert str(row["id"]) in listing.stdout and "invalid-update" in listing.stdout
        replayed = subprocess.run(
            [*CLI, "deliveries", "replay", str(row["id"])],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "1 deliveries due again" in replayed.stdout
        wait_for(lambda: _all_delivered(cabinet, appeal_ids), 60, "every update at the cabinet", worker)
        _check_final(cabinet, hub, appeal_ids, worker)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None and not REQUIRE_SERVICES,
    reason="needs rabbitmqctl to restart RabbitMQ",
)
def test_updates_survive_a_rabbitmq_restart_in_the_middle(
    env, tmp_path, hub, cabinet, portal, portal_client, edms
) -> None:
    with running(["worker"], env, tmp_path) as worker:
        before = _work_through(portal_client, portal, edms, 1)
        wait_for(lambda: _all_delivered(cabinet, before), 60, "the first appeal's updates", worker)
        _rabbitmqctl("stop_app")
        try:
            during = _work_through(portal_client, portal, edms, 1)  # committed; the relay cannot publish
        finally:
            _rabbitmqctl("start_app")
        after = _work_through(portal_client, portal, edms, 1)
        appeal_ids = before + during + after
        wait_for(lambda: _all_delivered(cabinet, appeal_ids), 120, "every update at the cabinet", worker)
        _check_final(cabinet, hub, appeal_ids, worker)


def test_an_appeal_for_a_push_agency_is_pushed_to_its_endpoint_and_taken(
    env, tmp_path, hub, dev_pki, push_port, portal, portal_client
) -> None:
    from gateway.simulators.edms_push import FakePushEdms
    from gateway.simulators.portal import push as push_envelope
    from gateway.simulators.samples import sample_appeal
    from tests.conftest import PUSH_AGENCY

    envelope = portal.envelope(sample_appeal(1, addressee_code=PUSH_AGENCY))
    with FakePushEdms(dev_pki.hub_cert.read_bytes(), port=push_port) as agency:
        agency.fail_next(2)  # the agency's endpoint is down at first
        with running(["worker"], env, tmp_path) as worker:
            response = push_envelope(portal_client, envelope)
            assert response.status_code == 201, response.text
            appeal_id = response.json()["appeal_id"]
            wait_for(lambda: len(agency.received) == 1, 60, "the push to be accepted", worker)

            def taken() -> bool:
                with hub.pool.connection() as conn:
                    row = conn.execute("SELECT state FROM appeal WHERE id = %s", (appeal_id,)).fetchone()
                return row["state"] == "acknowledged"

            wait_for(taken, 30, "the appeal to count as taken by the agency", worker)
        (received,) = agency.received
        assert received.message_id and received.signed_xml == envelope  # the portal's bytes, verbatim
    with hub.pool.connection() as conn:
        actions = [r["action"] for r in conn.execute(
            "SELECT action FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
        )]  # fmt: skip
        mailbox = conn.execute(
            "SELECT acked_at FROM mailbox_message WHERE appeal_id = %s", (appeal_id,)
        ).fetchone()
        attempts = conn.execute(
            "SELECT attempts FROM delivery WHERE connector = 'sed-push' AND appeal_id = %s", (appeal_id,)
        ).fetchone()
    assert actions[-1] == "pushed" and mailbox["acked_at"] is not None and attempts["attempts"] == 3
