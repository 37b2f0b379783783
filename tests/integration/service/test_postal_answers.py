"""Answers sent by post on the real database: the operators' list holds the answered appeals whose
applicants chose post and no others; an operator's dispatch is recorded once, audited, refused
before the answer, and shown by the lookup and by the cabinet's next update (REST and SOAP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from connectors.portal.cabinet_rest import CabinetRestConnector
from connectors.portal.cabinet_soap import CabinetSoapConnector
from gateway.domain.errors import Code, Rejection
from gateway.service import delivery, postal_answers, status
from gateway.service.cabinet_updates import CABINET
from gateway.simulators.cabinet import FakeCabinet
from tests.answered import agency_today, answer, answered_appeal, cabinet_payloads, registered_appeal

OPERATOR = "operator:test"
TRACKING = "42800012345678"


def _dispatch(hub, appeal_id: UUID, on: str | None = None, tracking: str = TRACKING):
    return postal_answers.dispatch(hub, OPERATOR, appeal_id, on or agency_today(), tracking)


def _refused(call, *args) -> Rejection:
    with pytest.raises(Rejection) as caught:
        call(*args)
    return caught.value


def test_only_answered_appeals_whose_applicants_chose_post_are_listed(hub, portal, dev_pki):
    by_post = answered_appeal(hub, portal, dev_pki, "ОГ-П1", seq=1)
    answered_appeal(hub, portal, dev_pki, "ОГ-Е1", reply_preference="email", seq=2)
    answered_appeal(hub, portal, dev_pki, "ОГ-К1", reply_preference="cabinet", seq=3)
    registered_appeal(hub, portal, "ОГ-П2", seq=4)  # by post, not answered yet

    (row,) = postal_answers.answers_to_post(hub)
    assert (row["appeal_id"], row["registration_number"], row["agency_code"]) == (
        by_post,
        "ОГ-П1",
        "ADM-CHEBOKSARY",
    )
    assert row["person"]["last_name"] == "Петрова"
    assert row["postal_address"] == {"text": "г. Чебоксары, ул. Примерная, д. 1, кв. 1", "postcode": "428000"}
    assert row["answer_id"] is not None and row["dispatched_on"] is None
    assert postal_answers.answers_to_post(hub, postal_answers.DISPATCHED) == []
    assert _refused(postal_answers.answers_to_post, hub, "lost").code is Code.INVALID_REQUEST


def test_a_dispatch_leaves_the_pending_list_is_audited_and_is_refused_twice(hub, portal, dev_pki):
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-П1")
    posted = _dispatch(hub, appeal_id, tracking="428000 12 34567 8")  # as a receipt groups it
    assert posted.tracking_number == TRACKING
    assert postal_answers.answers_to_post(hub) == []
    (row,) = postal_answers.answers_to_post(hub, postal_answers.DISPATCHED)
    assert (row["dispatched_on"], row["tracking_number"], row["dispatched_by"]) == (
        agency_today(),
        TRACKING,
        OPERATOR,
    )
    with hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT actor, details FROM audit_record WHERE appeal_id = %s AND action = 'dispatched'",
            (appeal_id,),
        ).fetchall()
    assert [(a["actor"], a["details"]["tracking_number"], a["details"]["seq"]) for a in audit] == [
        (OPERATOR, TRACKING, posted.seq)
    ]
    again = _refused(_dispatch, hub, appeal_id)
    assert (again.code, again.pointer) == (Code.ALREADY_DISPATCHED, "/appeal_id")


def test_a_dispatch_is_refused_before_the_answer_and_for_a_reply_not_by_post(hub, portal, dev_pki):
    waiting = registered_appeal(hub, portal, "ОГ-П1", seq=1)
    assert _refused(_dispatch, hub, waiting).code is Code.NOT_ANSWERED
    by_email = answered_appeal(hub, portal, dev_pki, "ОГ-Е1", reply_preference="email", seq=2)
    assert _refused(_dispatch, hub, by_email).code is Code.NOT_BY_POST
    assert _refused(_dispatch, hub, uuid4()).code is Code.NOT_FOUND
    answer(hub, dev_pki, waiting, "ОГ-П1")
    assert _dispatch(hub, waiting).seq == 3


@pytest.mark.parametrize(
    ("on", "tracking", "pointer"),
    [
        ("2026-02-30", TRACKING, "/dispatched_on"),
        ((date.today() + timedelta(days=5)).isoformat(), TRACKING, "/dispatched_on"),
        ("2000-01-01", TRACKING, "/dispatched_on"),  # before the answer
        (None, "4280001234567", "/tracking_number"),  # a digit short
        (None, "RA12345678RU", "/tracking_number"),
        (None, "", "/tracking_number"),
    ],
)
def test_a_wrong_date_or_tracking_number_is_refused_with_its_field(
    hub, portal, dev_pki, on, tracking, pointer
):
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-П1")
    refused = _refused(_dispatch, hub, appeal_id, on, tracking)
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, pointer)
    assert len(postal_answers.answers_to_post(hub)) == 1


def test_an_s10_number_is_taken_in_capitals(hub, portal, dev_pki):
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-П1")
    assert _dispatch(hub, appeal_id, tracking="ra123456785ru").tracking_number == "RA123456785RU"


@pytest.fixture(
    params=[("rest", 2), ("soap", 2), ("rest", 1), ("soap", 1)], ids=lambda p: f"{p[0]}-contract{p[1]}"
)
def cabinet_variant(request, dev_pki) -> Iterator[tuple[FakeCabinet, str]]:
    variant, version = request.param
    with FakeCabinet(dev_pki.hub_cert.read_bytes(), contract=version) as fake:
        yield fake, variant


def test_the_lookup_and_the_cabinets_next_update_show_the_dispatch(hub, portal, dev_pki, cabinet_variant):
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-П1")
    _dispatch(hub, appeal_id)
    posted = {"dispatched_on": agency_today(), "tracking_number": TRACKING}

    payloads = cabinet_payloads(hub, appeal_id)
    assert [p["type"] for p in payloads] == ["registered", "answered", "dispatched"]
    newest = payloads[-1]
    assert (newest["state"], newest["details"], newest["appeal"]["postal_dispatch"]) == (
        "answered",
        posted,
        posted,
    )
    assert "answer" in newest and newest["access_code"] == payloads[0]["access_code"]
    assert "postal_dispatch" not in payloads[1]["appeal"]

    found = status.lookup(hub, "ОГ-П1", newest["access_code"])
    assert found["postal_dispatch"] == posted
    assert found["history"][-1] == {**found["history"][-1], "type": "dispatched", "details": posted}
    assert "agency" not in found["history"][-1]  # the hub's operators posted it, not the agency

    cabinet, variant = cabinet_variant
    key, cert = dev_pki.hub_key.read_bytes(), dev_pki.hub_cert.read_bytes()
    version = cabinet.contract.version
    connector = (
        CabinetRestConnector(cabinet.url, key, cert, timeout=10, contract=version)
        if variant == "rest"
        else CabinetSoapConnector(cabinet.soap_url, key, cert, timeout=10, contract=version)
    )
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM outbox_message WHERE appeal_id = %s AND connector = %s ORDER BY seq",
            (appeal_id, CABINET),
        ).fetchall()
        messages = [delivery.outgoing_message(conn, row, 1) for row in rows]
    with connector:
        for message in messages:
            connector.deliver(message)
    assert [r.outcome for r in cabinet.history(appeal_id)] == ["applied"] * 3
    current = cabinet.current(appeal_id)
    assert current["type"] == "dispatched"
    if version == 2:
        assert current["details"] == posted
        assert current["appeal"]["postal_dispatch"] == posted
    else:
        assert current["details"] == {}
