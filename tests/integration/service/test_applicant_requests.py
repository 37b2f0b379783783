"""Withdrawal and feedback against the real database: what they change, whom they tell, what they refuse."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from gateway.domain.applicant_requests import parse_feedback, parse_withdrawal
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.service import applicant_requests, events, intake, mailbox, manual_routing
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer, sample_appeal

AGENCY = "ADM-CHEBOKSARY"
SENDER = "EPGU"
UNROUTABLE_TOPIC = "0001.0001.0001.0001"


def _refused(call, *args) -> tuple[Code, str | None]:
    with pytest.raises(Rejection) as refused:
        call(*args)
    return refused.value.code, refused.value.pointer


def _taken(hub, portal, n: int = 0) -> uuid.UUID:
    """An appeal pushed and taken by its agency (its mailbox is empty again)."""
    receipt = intake.accept(hub, portal.envelope(sample_appeal(n)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    return receipt.appeal_id


def _event(hub, appeal_id, event_id: str, type_: str, **fields):
    return events.record(hub, AGENCY, appeal_id, parse_event(event_id, type_, fields))


def _answered(hub, portal, dev_pki, n: int = 0) -> uuid.UUID:
    appeal_id = _taken(hub, portal, n)
    number = f"ОГ-{n}"
    _event(
        hub,
        appeal_id,
        "reg",
        "registered",
        registration_number=number,
        registered_on=date.today().isoformat(),
    )
    signed = signed_answer(
        sample_answer(appeal_id, number), dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    )
    events.record(hub, AGENCY, appeal_id, parse_event("ans", "answered", {}, answer=signed))
    return appeal_id


def _cabinet_updates(hub, appeal_id) -> list[tuple[int, str]]:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            """SELECT seq, payload FROM outbox_message WHERE appeal_id = %s AND connector = 'cabinet'
               ORDER BY seq""",
            (appeal_id,),
        ).fetchall()
    return [(r["seq"], r["payload"]["state"]) for r in rows]


def _audit(hub, appeal_id) -> list[tuple[str, str, dict]]:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT actor, action, details FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
        ).fetchall()
    return [(r["actor"], r["action"], r["details"]) for r in rows]


# --- withdrawal -------------------------------------------------------------------------------


def test_a_withdrawn_appeal_is_final_and_its_agency_and_cabinet_are_told(hub, portal):
    appeal_id = _taken(hub, portal)
    _event(
        hub,
        appeal_id,
        "reg",
        "registered",
        registration_number="ОГ-1",
        registered_on=date.today().isoformat(),
    )
    withdrawal = parse_withdrawal("w-1", "вопрос решён")
    receipt = applicant_requests.withdraw(hub, SENDER, appeal_id, withdrawal)
    assert (receipt.state, receipt.repeated) == ("withdrawn", False)
    again = applicant_requests.withdraw(hub, SENDER, appeal_id, withdrawal)
    assert (again.state, again.repeated, again.at) == ("withdrawn", True, receipt.at)

    (notice,) = mailbox.lease(hub, AGENCY, 10)  # one notice, though the withdrawal came twice
    assert (notice.kind, notice.appeal_id) == ("withdrawal", appeal_id)
    assert notice.withdrawal == {"seq": 2, "withdrawn_at": receipt.at.isoformat(), "reason": "вопрос решён"}
    assert notice.feedback is None
    assert notice.appeal["portal_appeal_id"]  # the appeal comes along, for an EDMS that never took it
    assert _cabinet_updates(hub, appeal_id) == [(1, "registered"), (2, "withdrawn")]
    actor, action, details = _audit(hub, appeal_id)[-2]  # then the notice's lease
    assert (actor, action) == ("portal:EPGU", "withdrawn")
    assert details["mailbox_message"] == str(notice.message_id)
    assert "вопрос" not in str(_audit(hub, appeal_id))  # the applicant's words stay out of the audit
    # The agency can no longer move it.
    code, _ = _refused(
        events.record, hub, AGENCY, appeal_id, parse_event("asg", "assigned", {"executor": "x"})
    )
    assert code is Code.ILLEGAL_TRANSITION
    assert _refused(applicant_requests.withdraw, hub, SENDER, appeal_id, parse_withdrawal("w-2")) == (
        Code.ILLEGAL_TRANSITION,
        None,
    )


def test_an_unrouted_appeal_withdrawn_leaves_the_manual_routing_queue(hub, portal):
    receipt = intake.accept(hub, portal.envelope(sample_appeal(1, topic_code=UNROUTABLE_TOPIC)))
    assert [a["id"] for a in manual_routing.waiting(hub)] == [receipt.appeal_id]
    applicant_requests.withdraw(hub, SENDER, receipt.appeal_id, parse_withdrawal("w-1"))
    assert manual_routing.waiting(hub) == []
    assert _refused(manual_routing.assign, hub, "operator:test", receipt.appeal_id, AGENCY)[0] is (
        Code.ILLEGAL_TRANSITION
    )
    assert _cabinet_updates(hub, receipt.appeal_id) == [(1, "withdrawn")]


def test_an_appeal_not_yet_pulled_is_delivered_before_its_withdrawal(hub, portal):
    receipt = intake.accept(hub, portal.envelope(sample_appeal(2)))
    applicant_requests.withdraw(hub, SENDER, receipt.appeal_id, parse_withdrawal("w-1"))
    leased = mailbox.lease(hub, AGENCY, 10)
    assert [m.kind for m in leased] == ["appeal", "withdrawal"]
    assert leased[1].withdrawal == {"seq": 1, "withdrawn_at": leased[1].notice["withdrawn_at"]}
    mailbox.acknowledge(hub, AGENCY, [mailbox.Ack(m.message_id, m.lease_token) for m in leased])
    with hub.pool.connection() as conn:  # taking the appeal's message does not revive it
        state = conn.execute("SELECT state FROM appeal WHERE id = %s", (receipt.appeal_id,)).fetchone()
    assert state["state"] == "withdrawn"


def test_only_the_sending_portal_withdraws_and_only_before_the_answer(hub, portal, dev_pki):
    appeal_id = _answered(hub, portal, dev_pki)
    assert _refused(
        applicant_requests.withdraw, hub, "OBRASHCHENIYA-BEL", appeal_id, parse_withdrawal("w-1")
    ) == (Code.NOT_FOUND, "/appeal_id")
    assert _refused(applicant_requests.withdraw, hub, SENDER, uuid.uuid4(), parse_withdrawal("w-1")) == (
        Code.NOT_FOUND,
        "/appeal_id",
    )
    assert _refused(applicant_requests.withdraw, hub, SENDER, appeal_id, parse_withdrawal("w-1"))[0] is (
        Code.ILLEGAL_TRANSITION
    )


# --- feedback ---------------------------------------------------------------------------------


def test_feedback_on_an_answer_is_stored_counted_and_pulled_by_the_agency(hub, portal, dev_pki):
    first, second = _answered(hub, portal, dev_pki, 1), _answered(hub, portal, dev_pki, 2)
    _event(hub, second, "cls", "closed")  # a closed appeal's answer may still be rated
    assert applicant_requests.agency_feedback(hub, AGENCY).count == 0
    receipt = applicant_requests.give_feedback(hub, SENDER, first, parse_feedback("f-1", 5, "спасибо"))
    assert (receipt.state, receipt.repeated) == ("answered", False)
    repeat = applicant_requests.give_feedback(hub, SENDER, first, parse_feedback("f-1", 5, "спасибо"))
    assert (repeat.repeated, repeat.at) == (True, receipt.at)
    applicant_requests.give_feedback(hub, SENDER, second, parse_feedback("f-2", 2))

    summary = applicant_requests.agency_feedback(hub, AGENCY)
    assert (summary.count, summary.mean) == (2, 3.5)
    assert summary.by_rating == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert applicant_requests.feedback_summary(hub) == [summary]

    notices = mailbox.lease(hub, AGENCY, 10)
    assert [(m.kind, m.appeal_id) for m in notices] == [("feedback", first), ("feedback", second)]
    assert notices[0].feedback == {"rating": 5, "comment": "спасибо", "given_at": receipt.at.isoformat()}
    assert notices[1].feedback["rating"] == 2 and "comment" not in notices[1].feedback
    actor, _, details = next(a for a in _audit(hub, first) if a[1] == "feedback-given")
    assert (actor, details["rating"], details["agency"]) == ("portal:EPGU", 5, AGENCY)
    assert "спасибо" not in str(_audit(hub, first))


def test_feedback_is_once_per_answer_and_only_on_an_answer(hub, portal, dev_pki):
    answered = _answered(hub, portal, dev_pki, 3)
    applicant_requests.give_feedback(hub, SENDER, answered, parse_feedback("f-1", 4))
    for feedback, code, pointer in (
        (parse_feedback("f-2", 4), Code.FEEDBACK_ALREADY_GIVEN, "/feedback_id"),
        (parse_feedback("f-1", 1), Code.REQUEST_ID_REUSED, "/feedback_id"),
    ):
        assert _refused(applicant_requests.give_feedback, hub, SENDER, answered, feedback) == (code, pointer)
    assert _refused(
        applicant_requests.give_feedback, hub, "OBRASHCHENIYA-BEL", answered, parse_feedback("f-9", 1)
    ) == (Code.NOT_FOUND, "/appeal_id")

    declined = _taken(hub, portal, 4)
    _event(
        hub, declined, "reg", "registered", registration_number="ОГ-4", registered_on=date.today().isoformat()
    )
    assert _refused(applicant_requests.give_feedback, hub, SENDER, declined, parse_feedback("f-1", 1)) == (
        Code.NOT_ANSWERED,
        "/rating",
    )
    _event(hub, declined, "dec", "declined", ground="repeated")
    _event(hub, declined, "cls", "closed")
    assert _refused(applicant_requests.give_feedback, hub, SENDER, declined, parse_feedback("f-1", 1))[0] is (
        Code.NOT_ANSWERED
    )
    assert applicant_requests.agency_feedback(hub, AGENCY).count == 1
