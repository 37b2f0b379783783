"""Repeated appeals (59-FZ art. 11 p.5) on the real database: intake links an appeal to the same
applicant's earlier ones on the same topic code at the same agency within the window; the agency sees
the links, may decline as repeated citing one, and the applicant's lookup then names it."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.service import events, intake, mailbox, monitoring, status
from gateway.simulators.samples import sample_appeal
from tests.answered import cabinet_payloads

AGENCY = "ADM-CHEBOKSARY"
OTHER_TOPIC = "0005.0005.0056.1150"


def _pushed(hub, seq: int, portal, **kwargs) -> UUID:
    return intake.accept(hub, portal.envelope(sample_appeal(seq, **kwargs))).appeal_id


def _taken(hub) -> dict[UUID, mailbox.LeasedMessage]:
    leased = mailbox.lease(hub, AGENCY, 50)
    for m in leased:
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(m.message_id, m.lease_token))
    return {m.appeal_id: m for m in leased}


def _register(hub, appeal_id: UUID, number: str) -> str:
    fields = {"registration_number": number, "registered_on": date.today().isoformat()}
    events.record(hub, AGENCY, appeal_id, parse_event("reg-" + number, "registered", fields))
    return cabinet_payloads(hub, appeal_id)[0]["access_code"]


def test_the_same_applicant_topic_and_agency_are_linked_and_nothing_else(hub, portal):
    first = _pushed(hub, 1, portal)
    _taken(hub)
    _register(hub, first, "ОГ-100")
    other_topic = _pushed(hub, 1, portal, topic_code=OTHER_TOPIC)
    other_person = _pushed(hub, 2, portal)
    again = _pushed(hub, 1, portal)
    taken = _taken(hub)
    (link,) = taken[again].appeal["earlier_appeals"]
    assert (link["appeal_id"], link["registration_number"], link["state"]) == (
        str(first),
        "ОГ-100",
        "registered",
    )
    assert taken[other_topic].appeal["earlier_appeals"] == []
    assert taken[other_person].appeal["earlier_appeals"] == []
    (story,) = monitoring.timeline(hub, str(again))
    (linked,) = [a for a in story["audit"] if a["action"] == "linked-repeated"]
    assert linked["details"] == {"earlier_appeals": [str(first)]}


def test_appeals_older_than_the_window_are_not_linked(hub, portal):
    first = _pushed(hub, 1, portal)
    with hub.pool.connection() as conn:
        conn.execute(
            "UPDATE appeal SET received_at = received_at - interval '366 days' WHERE id = %s", (first,)
        )
    again = _pushed(hub, 1, portal)
    assert _taken(hub)[again].appeal["earlier_appeals"] == []


def test_a_decline_as_repeated_cites_the_earlier_appeal_and_the_lookup_names_it(hub, portal):
    first = _pushed(hub, 1, portal)
    _taken(hub)
    _register(hub, first, "ОГ-200")
    again = _pushed(hub, 1, portal)
    _taken(hub)
    code = _register(hub, again, "ОГ-201")
    cited = {"ground": "repeated", "earlier_appeal_id": str(first)}
    events.record(hub, AGENCY, again, parse_event("dec-1", "declined", cited))
    found = status.lookup(hub, "ОГ-201", code)
    assert found["state"] == "declined"
    assert found["repeat_of"] == {"registration_number": "ОГ-200"}
    assert found["history"][-1]["details"] == {"ground": "repeated"}  # the cabinet's contract, unchanged


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"ground": "repeated", "earlier_appeal_id": "{other}"}, "not an earlier appeal of this applicant"),
        ({"ground": "unreadable", "earlier_appeal_id": "{first}"}, "only with the ground repeated"),
        ({"ground": "repeated", "earlier_appeal_id": "ОГ-1"}, "must be a UUID"),
    ],
)
def test_a_citation_must_be_the_applicants_own_earlier_appeal(hub, portal, fields, detail):
    first = _pushed(hub, 1, portal)
    other = _pushed(hub, 2, portal)
    again = _pushed(hub, 1, portal)
    _taken(hub)
    _register(hub, again, "ОГ-300")
    values = {k: v.format(first=first, other=other) for k, v in fields.items()}
    with pytest.raises(Rejection) as caught:
        events.record(hub, AGENCY, again, parse_event("dec-2", "declined", values))
    assert (caught.value.code, caught.value.pointer) == (Code.INVALID_REQUEST, "/earlier_appeal_id")
    assert detail in caught.value.detail
