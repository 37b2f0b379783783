"""A small, known set of appeals for the analytics tests, made through the service layer as the
faces make them (pushed, pulled, registered, answered with a result category, rated, declined),
and the reference sample loaded: what every analytics test counts."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from gateway.config import PROJECT_ROOT
from gateway.domain.applicant_requests import parse_feedback
from gateway.domain.events import parse_event
from gateway.service import analytics, applicant_requests, events, intake, mailbox
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer, sample_appeal, sample_co_applicants
from tests.answered import agency_today

AGENCY = "ADM-CHEBOKSARY"  # 0005.0005.0056 in 97701: answers signed with the dev PKI's agency key
SENDER = "EPGU"
UTILITIES = "0005.0005.0056.1149"
BUSINESS = "0003.0009.0001.0001"
HOUSING = "0005.0001.0001.0001"
SAMPLES = PROJECT_ROOT / "deploy" / "analytics"


def region_today() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date().isoformat()


def this_month() -> str:
    return region_today()[:7]


def load_sample_reference(hub) -> None:
    analytics.load_reference(
        hub,
        classifier=SAMPLES / "classifier.sample.csv",
        territories=SAMPLES / "territories.sample.csv",
        actor="tests",
    )


def push(hub, portal, seq: int, topic: str, territory: str) -> UUID:
    appeal = sample_appeal(seq, topic_code=topic, territory_code=territory)
    return intake.accept(hub, portal.envelope(appeal)).appeal_id


def event(hub, appeal_id: UUID, event_id: str, type_: str, **fields) -> None:
    events.record(hub, AGENCY, appeal_id, parse_event(event_id, type_, fields))


def _answer(hub, dev_pki, appeal_id: UUID, number: str, result: str) -> None:
    signed = signed_answer(
        sample_answer(appeal_id, number), dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    )
    event = parse_event(f"ans-{number}", "answered", {"result": result}, answer=signed)
    events.record(hub, AGENCY, appeal_id, event)


def make_appeals(hub, portal, dev_pki) -> dict[str, UUID]:
    """Six appeals received today: three on utilities in Cheboksary taken by ADM-CHEBOKSARY (one
    answered «explained» and rated 5, one answered «supported-measures-taken» and rated 3, one
    declined), two on housing elsewhere in Chuvashia and one on business in Cheboksary, untouched."""
    load_sample_reference(hub)
    ids = {
        "explained": push(hub, portal, 1, UTILITIES, "97701000"),
        "measures": push(hub, portal, 2, UTILITIES, "97701000"),
        "declined": push(hub, portal, 3, UTILITIES, "97701000"),
        "housing-1": push(hub, portal, 4, HOUSING, "97610000"),
        "housing-2": push(hub, portal, 5, HOUSING, "97610000"),
        "business": push(hub, portal, 6, BUSINESS, "97701000"),
    }
    for leased in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    for n, key in enumerate(("explained", "measures", "declined"), start=1):
        fields = {"registration_number": f"А-{n}", "registered_on": agency_today()}
        events.record(hub, AGENCY, ids[key], parse_event(f"reg-{n}", "registered", fields))
    _answer(hub, dev_pki, ids["explained"], "А-1", "explained")
    _answer(hub, dev_pki, ids["measures"], "А-2", "supported-measures-taken")
    event(hub, ids["declined"], "dec-3", "declined", ground="repeated")
    for key, rating in (("explained", 5), ("measures", 3)):
        applicant_requests.give_feedback(hub, SENDER, ids[key], parse_feedback(f"fb-{key}", rating, None))
    return ids


def make_repeated_and_collective(hub, portal) -> dict[str, UUID]:
    """Three more appeals received today: one on utilities in Cheboksary, the same applicant's
    repeat of it (linked at intake; ADM-CHEBOKSARY declines it as repeated, citing the first), and
    a collective one on housing elsewhere in Chuvashia, signed by two co-applicants."""
    ids = {
        "first": push(hub, portal, 21, UTILITIES, "97701000"),
        "repeat": push(hub, portal, 21, UTILITIES, "97701000"),  # the same applicant (subject-21)
    }
    collective = sample_appeal(22, topic_code=HOUSING, territory_code="97610000",
                               co_applicants=sample_co_applicants(2, contact=1))  # fmt: skip
    ids["collective"] = intake.accept(hub, portal.envelope(collective)).appeal_id
    for leased in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    fields = {"registration_number": "А-22", "registered_on": agency_today()}
    events.record(hub, AGENCY, ids["repeat"], parse_event("reg-22", "registered", fields))
    event(hub, ids["repeat"], "dec-22", "declined", ground="repeated", earlier_appeal_id=str(ids["first"]))
    return ids
