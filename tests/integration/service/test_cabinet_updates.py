"""What the applicant is owed, through a whole life of events on the real database: every cabinet
update carries the appeal's public state and repeats the access code and the answer once given
(contract 2), so the newest update alone shows everything however the updates raced; and a
redirected appeal keeps answering the public lookup by the number and code the applicant holds.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from connectors.portal.cabinet_rest import CabinetRestConnector
from connectors.portal.cabinet_soap import CabinetSoapConnector
from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.service import delivery, events, intake, mailbox, status
from gateway.service.cabinet_updates import CABINET
from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer, sample_appeal
from tests.answered import cabinet_payloads

AGENCY = "ADM-CHEBOKSARY"
OTHER = "MINSTROY-21"
THIRD = "MINZDRAV-21"
CLOCK = clock_for("RU-59FZ", "Europe/Moscow")


def _today() -> str:
    return CLOCK.local_date(datetime.now(UTC)).isoformat()


def _take(hub, agency: str) -> None:
    (leased,) = mailbox.lease(hub, agency, 1)
    mailbox.acknowledge_one(hub, agency, mailbox.Ack(leased.message_id, leased.lease_token))


def _event(hub, agency: str, appeal_id: UUID, event_id: str, kind: str, **fields: str) -> None:
    events.record(hub, agency, appeal_id, parse_event(event_id, kind, fields))


def _register(hub, agency: str, appeal_id: UUID, number: str) -> None:
    _event(
        hub,
        agency,
        appeal_id,
        f"reg-{agency}",
        "registered",
        registration_number=number,
        registered_on=_today(),
    )


def _pushed(hub, portal) -> UUID:
    receipt = intake.accept(hub, portal.envelope(sample_appeal(0)))
    _take(hub, AGENCY)
    return receipt.appeal_id


@pytest.fixture
def answered(hub, portal, dev_pki) -> UUID:
    """An appeal registered, assigned, extended, answered with a signed answer, and closed."""
    appeal_id = _pushed(hub, portal)
    _register(hub, AGENCY, appeal_id, "ОГ-1")
    _event(hub, AGENCY, appeal_id, "asg", "assigned", executor="Исполнитель Отдела-Писем")
    answer = signed_answer(
        sample_answer(appeal_id, "ОГ-1"), dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    )
    events.record(hub, AGENCY, appeal_id, parse_event("ans", "answered", {}, answer=answer))
    _event(hub, AGENCY, appeal_id, "cls", "closed")
    return appeal_id


def test_every_update_from_the_registration_on_repeats_the_code_and_carries_the_state(hub, answered):
    payloads = cabinet_payloads(hub, answered)
    assert [p["type"] for p in payloads] == ["registered", "assigned", "answered", "closed"]
    codes = {p["access_code"] for p in payloads}
    assert len(codes) == 1 and len(codes.pop()) == 10
    assert [("answer" in p) for p in payloads] == [False, False, True, True]
    assert payloads[3]["answer"] == payloads[2]["answer"]
    assert payloads[3]["documents"] == payloads[2]["documents"]
    for payload in payloads:
        appeal = payload["appeal"]
        assert appeal["state"] == payload["state"]
        assert [e["seq"] for e in appeal["history"]] == list(range(1, payload["seq"] + 1))
        assert appeal["registration"]["registration_number"] == "ОГ-1"
        assert appeal["agency"]["code"] == AGENCY
        assert all(e["agency"] == AGENCY for e in appeal["history"])
    # the executor is no public fact: no update carries it
    assert "Исполнитель" not in str(payloads)


@pytest.fixture(params=["rest", "soap"])
def variant(request) -> str:
    return request.param


@pytest.fixture(params=[2, 1], ids=["contract2", "contract1"])
def contract(request) -> int:
    return request.param


@pytest.fixture
def cabinet(dev_pki, contract: int) -> Iterator[FakeCabinet]:
    with FakeCabinet(dev_pki.hub_cert.read_bytes(), contract=contract) as fake:
        yield fake


def _deliver_newest_first(hub, dev_pki, cabinet: FakeCabinet, variant: str, appeal_id: UUID) -> None:
    """The race at its worst: every update arrives after the one that followed it."""
    key, cert = dev_pki.hub_key.read_bytes(), dev_pki.hub_cert.read_bytes()
    version = cabinet.contract.version
    if variant == "rest":
        connector = CabinetRestConnector(cabinet.url, key, cert, timeout=10, contract=version)
    else:
        connector = CabinetSoapConnector(cabinet.soap_url, key, cert, timeout=10, contract=version)
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM outbox_message WHERE appeal_id = %s AND connector = %s ORDER BY seq DESC",
            (appeal_id, CABINET),
        ).fetchall()
        messages = [delivery.outgoing_message(conn, row, 1) for row in rows]
    with connector:
        for message in messages:
            connector.deliver(message)


def test_the_newest_update_alone_shows_the_number_code_and_answer_however_they_raced(
    hub, dev_pki, answered, cabinet, variant
):
    _deliver_newest_first(hub, dev_pki, cabinet, variant, answered)
    outcomes = [(r.update["seq"], r.outcome) for r in cabinet.history(answered)]
    assert outcomes == [(4, "applied"), (3, "stale"), (2, "stale"), (1, "stale")]
    shown = cabinet.shown(answered)
    if cabinet.contract.version == 1:
        # The flaw contract 2 removes: the registered update, the only one with the code, lost.
        assert (shown["registration_number"], shown["access_code"], shown["answered"]) == (None, None, False)
        return
    assert shown["registration_number"] == "ОГ-1"
    found = status.lookup(hub, shown["registration_number"], shown["access_code"])
    assert found["state"] == "closed"
    current = cabinet.current(answered)
    assert current["appeal"]["history"][-1]["type"] == "closed"
    assert base64.b64decode(current["answer"]["document"]).startswith(b"<")


# --- redirects keep the applicant's handle ---------------------------------------------------------


@pytest.fixture
def redirected(hub, portal) -> tuple[UUID, str]:
    """Registered as ОГ-1 by the first agency, then redirected to another: (appeal id, its code)."""
    appeal_id = _pushed(hub, portal)
    _register(hub, AGENCY, appeal_id, "ОГ-1")
    _event(hub, AGENCY, appeal_id, "rd-1", "redirected", target_agency=OTHER, reason="не по компетенции")
    return appeal_id, cabinet_payloads(hub, appeal_id)[0]["access_code"]


def test_the_first_number_and_code_answer_the_lookup_after_a_redirect(hub, redirected):
    _appeal_id, code = redirected
    found = status.lookup(hub, "ОГ-1", code)
    assert (found["registration_number"], found["registered_on"]) == ("ОГ-1", _today())
    assert (found["state"], found["agency"]["code"]) == ("redirected", OTHER)
    assert "registration" not in found  # the new agency has not registered it yet
    assert found["register_by"]  # and must, by this date
    assert [(r["agency"]["code"], r["registration_number"]) for r in found["registrations"]] == [
        (AGENCY, "ОГ-1")
    ]
    redirect = found["history"][-1]
    assert (redirect["type"], redirect["agency"], redirect["details"]["target_agency"]) == (
        "redirected",
        AGENCY,
        OTHER,
    )
    with pytest.raises(Rejection) as wrong:
        status.lookup(hub, "ОГ-1", "ABCDEFGHJK")
    assert wrong.value.code is Code.NOT_FOUND


def test_the_new_agencys_number_shows_and_the_code_stays_through_a_second_redirect(hub, redirected):
    appeal_id, code = redirected
    _take(hub, OTHER)
    _register(hub, OTHER, appeal_id, "МС-77")
    found = status.lookup(hub, "ОГ-1", code)
    assert found["registration"]["registration_number"] == "МС-77"
    assert [r["registration_number"] for r in found["registrations"]] == ["ОГ-1", "МС-77"]
    assert status.lookup(hub, "МС-77", code)["registration_number"] == "МС-77"  # the same code opens both
    _event(hub, OTHER, appeal_id, "rd-2", "redirected", target_agency=THIRD, reason="не по компетенции")
    after = status.lookup(hub, "ОГ-1", code)
    assert (after["agency"]["code"], after["state"]) == (THIRD, "redirected")
    assert [e["agency"] for e in after["history"]] == [AGENCY, AGENCY, OTHER, OTHER]
    payloads = cabinet_payloads(hub, appeal_id)
    assert {p["access_code"] for p in payloads} == {code}  # the second registration issued none
    assert payloads[-1]["appeal"]["registrations"] == after["registrations"]


def test_the_old_agency_cannot_give_the_number_to_another_appeal(hub, portal, redirected):
    other = _pushed(hub, portal)
    with pytest.raises(Rejection) as taken:
        _register(hub, AGENCY, other, "ОГ-1")
    assert taken.value.code is Code.REGISTRATION_NUMBER_TAKEN


def test_an_update_queued_before_contract_2_is_completed_when_delivered(hub, answered):
    """A payload without the public state (written by a hub before the upgrade) gets the state as it
    is now and what earlier updates gave the applicant, so contract 2 can still carry it."""
    with hub.pool.connection() as conn:
        conn.execute(
            """UPDATE outbox_message SET payload = payload - 'appeal' - 'access_code'
               WHERE appeal_id = %s AND connector = %s AND seq = 2""",
            (answered, CABINET),
        )
        row = conn.execute(
            "SELECT * FROM outbox_message WHERE appeal_id = %s AND connector = %s AND seq = 2",
            (answered, CABINET),
        ).fetchone()
        assert "appeal" not in row["payload"]
        payload = delivery.outgoing_message(conn, row, 1).payload
    assert payload["appeal"]["state"] == "closed"  # as of the delivery, the best left to give
    assert payload["access_code"] == cabinet_payloads(hub, answered)[0]["access_code"]
    assert (payload["seq"], payload["type"]) == (2, "assigned")
