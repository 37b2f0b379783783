"""The lease rule under concurrency, on real PostgreSQL: when a new lease and an ack with the expired
lease's token race for one message, exactly one of them wins (the rule: gateway/service/mailbox.py).

Each race holds one side's statement in an open transaction and lets the other run against it, so
the order is forced rather than hoped for.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from uuid import UUID

from gateway.adapters.db import mailbox as mailbox_db
from gateway.domain.lifecycle import Transition, sources, target
from gateway.service import intake, mailbox
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"


def _expired_lease(hub, portal) -> mailbox.LeasedMessage:
    intake.accept(hub, portal.envelope(sample_appeal(1)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    with hub.pool.connection() as conn:
        conn.execute("UPDATE mailbox_message SET visible_at = clock_timestamp() - interval '1 second'")
    return leased


def _wait_until_blocked(hub, future: Future, timeout: float = 10) -> None:
    """Until some backend of this database waits on a row lock (the racing statement has arrived)."""
    deadline = time.monotonic() + timeout
    with hub.pool.connection() as conn:
        while not conn.execute(
            """SELECT count(*) > 0 AS blocked FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        ).fetchone()["blocked"]:
            assert not future.done(), future.result()
            assert time.monotonic() < deadline, "the ack never reached the row lock"
            time.sleep(0.02)


def test_an_ack_with_the_old_token_waiting_behind_a_new_lease_is_lease_invalid(hub, portal):
    old = _expired_lease(hub, portal)
    pool = ThreadPoolExecutor(1)
    try:
        with hub.pool.connection() as conn, conn.transaction():
            (again,) = mailbox_db.lease(
                conn, AGENCY, 1, 60, actor="agency:" + AGENCY,
                first_delivery=(sources(Transition.LEASE), target(Transition.LEASE)),
            )  # fmt: skip
            late = pool.submit(
                mailbox.acknowledge, hub, AGENCY, [mailbox.Ack(old.message_id, old.lease_token)]
            )
            _wait_until_blocked(hub, late)
        (result,) = late.result(timeout=10)
    finally:
        pool.shutdown()
    assert result.outcome is mailbox.AckOutcome.LEASE_INVALID
    again = json.loads(again)  # the message as the EDMS receives it
    ack = mailbox.Ack(UUID(again["message_id"]), UUID(again["lease_token"]))
    (taken,) = mailbox.acknowledge(hub, AGENCY, [ack])
    assert taken.outcome is mailbox.AckOutcome.ACKNOWLEDGED


def test_a_pull_while_a_late_ack_holds_the_message_leases_nothing(hub, portal):
    old = _expired_lease(hub, portal)
    with hub.pool.connection() as conn, conn.transaction():
        taken = mailbox_db.acknowledge(
            conn, AGENCY, [(old.message_id, old.lease_token)], actor="agency:" + AGENCY,
            taken=(sources(Transition.ACKNOWLEDGE), target(Transition.ACKNOWLEDGE)),
        )  # fmt: skip
        assert taken == [old.message_id]
        assert mailbox.lease(hub, AGENCY, 10) == []  # skips the row the ack holds, without waiting
    assert mailbox.lease(hub, AGENCY, 10) == []  # and after the commit, it is taken
    assert mailbox.statistics(hub, AGENCY) == mailbox.QueueStatistics(0, 0, 0, 0.0)
