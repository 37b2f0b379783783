"""Fail-open intake (GATEWAY_ANTIVIRUS_OUTAGE=hold) against a real clamd: with the scanner away the
appeal is accepted and routed but kept from its agency; a later scan releases the clean ones into
the mailbox and keeps an infected one from the agency for operators; manual routing respects the hold."""

from __future__ import annotations

import dataclasses
import threading
import time

from gateway.faces.worker.relay import start_hold_releaser
from gateway.service import holds, mailbox, manual_routing, monitoring
from tests.attachment_samples import PDF, accepted_with, nested
from tests.clamd import EICAR, EICAR_SIGNATURE

AGENCY = "ADM-CHEBOKSARY"


def _fail_open(scanning_hub):
    settings = scanning_hub.settings.model_copy(update={"antivirus_outage": "hold"})
    return dataclasses.replace(scanning_hub, settings=settings)


def _actions(hub, appeal_id) -> list[str]:
    (story,) = monitoring.timeline(hub, str(appeal_id))
    return [a["action"] for a in story["audit"]]


def test_held_while_clamd_is_away_then_released_or_kept_by_a_later_scan(scanning_hub, portal, clamd):
    hub = _fail_open(scanning_hub)
    clamd.stop()
    clean = accepted_with(hub, portal, PDF, "application/pdf", 1)
    infected = accepted_with(hub, portal, nested(EICAR, "readme.txt", 2), "application/zip", 2)
    assert clean.agency_code == infected.agency_code == AGENCY  # receipts as usual, routed
    assert mailbox.lease(hub, AGENCY, 10) == []  # but nothing for the agency yet
    assert holds.release(hub).as_dict() == {"released": 0, "infected": 0, "still_held": 2}
    assert {r["scans"] for r in holds.listing(hub)} == {1}
    assert "held-for-scan" in _actions(hub, clean.appeal_id)

    clamd.start()
    assert holds.release(hub).as_dict() == {"released": 1, "infected": 1, "still_held": 0}
    (message,) = mailbox.lease(hub, AGENCY, 10)
    assert message.appeal_id == clean.appeal_id
    (kept,) = holds.listing(hub)
    assert (kept["appeal_id"], kept["infected"]) == (infected.appeal_id, EICAR_SIGNATURE + ".UNOFFICIAL")
    assert _actions(hub, infected.appeal_id)[-1] == "quarantined-infected"
    assert holds.release(hub).as_dict() == {"released": 0, "infected": 0, "still_held": 0}
    assert mailbox.lease(hub, AGENCY, 10) == []  # the infected one never reaches the agency


def test_an_operator_routing_a_held_appeal_does_not_post_it_before_its_scan(scanning_hub, portal, clamd):
    hub = _fail_open(scanning_hub)
    clamd.stop()
    unrouted = accepted_with(hub, portal, PDF, "application/pdf", topic_code="0001.0001.0001.0001")
    assert unrouted.agency_code is None
    manual_routing.assign(hub, "operator:test", unrouted.appeal_id, AGENCY)
    assert mailbox.lease(hub, AGENCY, 10) == []
    clamd.start()
    assert holds.release(hub).released == 1
    (message,) = mailbox.lease(hub, AGENCY, 10)
    assert message.appeal_id == unrouted.appeal_id


def test_the_relays_releaser_thread_posts_held_appeals_once_clamd_is_back(scanning_hub, portal, clamd):
    settings = scanning_hub.settings.model_copy(
        update={"antivirus_outage": "hold", "antivirus_release_seconds": 0.1}
    )
    hub = dataclasses.replace(scanning_hub, settings=settings)
    clamd.stop()
    held = accepted_with(hub, portal, PDF, "application/pdf")
    clamd.start()
    stop = threading.Event()
    thread = start_hold_releaser(hub, settings, stop)
    assert thread is not None
    try:
        deadline = time.monotonic() + 10
        while holds.listing(hub) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    (message,) = mailbox.lease(hub, AGENCY, 10)
    assert message.appeal_id == held.appeal_id
    fail_closed = settings.model_copy(update={"antivirus_outage": "refuse"})
    assert start_hold_releaser(hub, fail_closed, stop) is None  # only a fail-open hub runs it
