"""Metrics made by the real paths, in-process: what a scrape reads from PostgreSQL after intake,
pulls, acks, deliveries and events, and what the in-process counters count.

The scrape is the service's own exposition (``/metrics`` serves exactly this; tests/e2e/test_alerts.py
scrapes it over HTTP). In-process counters live in this test process's registry for the whole run,
so those tests compare before and after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography import x509
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gateway.adapters import metrics as adapter
from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import metrics as metrics_db
from gateway.domain.deadlines import LegalClock, clock_for
from gateway.domain.delivery import DeliveryError
from gateway.domain.errors import Rejection
from gateway.domain.events import parse_event
from gateway.domain.lifecycle import Transition, sources
from gateway.service import delivery, events, intake, mailbox, metrics
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import message_header, sample_answer, sample_appeal
from tests.conftest import ANSWERING_AGENCY
from tests.integration.service.test_delivery import POLICY, Receiver, RecordingPublisher

AGENCY = ANSWERING_AGENCY  # ADM-CHEBOKSARY: the sample appeal's topic and territory route here
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(hub) -> Series:
    body, content_type = metrics.exposition(hub, None)
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _pushed(hub, portal, n: int) -> list[UUID]:
    return [intake.accept(hub, portal.envelope(sample_appeal(i))).appeal_id for i in range(n)]


def test_mailboxes_are_read_per_agency(hub, portal) -> None:
    _pushed(hub, portal, 3)
    before = scrape(hub)
    assert value(before, "appeals_gateway_mailbox_messages", agency=AGENCY, status="pending") == 3
    assert value(before, "appeals_gateway_agency_last_pull_timestamp_seconds", agency=AGENCY) is None
    # every registered agency has its row, an idle one of zeros
    assert value(before, "appeals_gateway_mailbox_messages", agency="MINZDRAV-21", status="pending") == 0

    first, second = mailbox.lease(hub, AGENCY, 2)
    mailbox.acknowledge(
        hub,
        AGENCY,
        [
            mailbox.Ack(first.message_id, first.lease_token),
            mailbox.Ack(second.message_id, second.lease_token, accepted=False, reason="not ours"),
        ],
    )
    after = scrape(hub)
    counts = {
        status: value(after, "appeals_gateway_mailbox_messages", agency=AGENCY, status=status)
        for status in ("pending", "leased", "refused")
    }
    assert counts == {"pending": 1, "leased": 0, "refused": 1}
    assert 0 < value(after, "appeals_gateway_mailbox_oldest_pending_age_seconds", agency=AGENCY) < 60
    now = datetime.now(UTC).timestamp()
    for name in (
        "appeals_gateway_agency_last_pull_timestamp_seconds",
        "appeals_gateway_agency_last_ack_timestamp_seconds",
    ):
        assert now - 60 < value(after, name, agency=AGENCY) <= now

    mailbox.lease(hub, AGENCY, 10)
    drained = scrape(hub)
    assert value(drained, "appeals_gateway_mailbox_messages", agency=AGENCY, status="leased") == 1
    assert value(drained, "appeals_gateway_mailbox_oldest_pending_age_seconds", agency=AGENCY) == 0


def _registered(hub, appeal_id: UUID, registered_on: date, n: int) -> None:
    """The agency takes the appeal and registers it, as of ``registered_on`` (the service allows a
    past date: an EDMS may report a registration late)."""
    event = parse_event(
        f"reg-{n}",
        "registered",
        {"registration_number": f"M-{n}", "registered_on": registered_on.isoformat()},
    )
    events.record(hub, AGENCY, appeal_id, event)


def test_deliveries_by_status_and_attempts_by_outcome_and_the_outbox_lag(hub, portal) -> None:
    dead, retried, waiting = _pushed(hub, portal, 3)
    for message in mailbox.lease(hub, AGENCY, 3):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(message.message_id, message.lease_token))
    today = _clock(hub).local_date(datetime.now(UTC))
    for n, appeal_id in enumerate((dead, retried)):
        _registered(hub, appeal_id, today, n)  # each writes a cabinet update to the outbox
    publisher = RecordingPublisher()
    assert delivery.relay_once(hub, publisher).published == 2
    in_flight = scrape(hub)
    assert value(in_flight, "appeals_gateway_deliveries", connector="cabinet", status="in-flight") == 2

    outcomes = iter(
        [DeliveryError("422 invalid-update", permanent=True), DeliveryError("503", retry_after=600)]
    )
    for outbox_id, attempt in publisher.published:
        receiver = Receiver([next(outcomes)])
        delivery.attempt(hub, outbox_id, attempt, receiver.resolve, POLICY)
    _registered(hub, waiting, today, 2)  # due now, and no relay runs

    series = scrape(hub)
    statuses = {
        s: value(series, "appeals_gateway_deliveries", connector="cabinet", status=s)
        for s in adapter.DELIVERY_STATUSES
    }
    assert statuses == {"pending": 1, "retrying": 1, "in-flight": 0, "dead": 1}
    attempts = {
        o: value(series, "appeals_gateway_delivery_attempts_last_5m", connector="cabinet", outcome=o)
        for o in adapter.ATTEMPT_OUTCOMES
    }
    assert attempts == {"delivered": 0, "retry": 1, "dead": 1, "lost": 0, "bounced": 0}  # last 5 minutes
    # the other connector's series are there, at zero, so a dashboard and a rule always see them
    assert value(series, "appeals_gateway_deliveries", connector="sed-push", status="dead") == 0
    assert value(series, "appeals_gateway_deliveries", connector="applicant-mail", status="dead") == 0
    assert 0 < value(series, "appeals_gateway_outbox_lag_seconds") < 60


def _clock(hub) -> LegalClock:
    with hub.pool.connection() as conn:
        agency = agencies_db.get_agency(conn, AGENCY)
    assert agency is not None
    return clock_for(agency.jurisdiction_profile, agency.timezone)


def _registered_on_for_due(clock: LegalClock, today: date, days_left: range) -> date:
    """A registration date whose answer-by falls ``days_left`` days from today (weekends and
    holidays move due dates, so it is searched for, not computed)."""
    for back in range(20, 80):
        registered_on = today - timedelta(days=back)
        if (clock.answer_by(registered_on) - today).days in days_left:
            return registered_on
    raise AssertionError("no such registration date")


def test_the_legal_clock_counts_overdue_and_at_risk_appeals_of_open_states_only(hub, portal) -> None:
    overdue, at_risk, on_time, declined, _routed = _pushed(hub, portal, 5)
    for message in mailbox.lease(hub, AGENCY, 4):  # the fifth stays routed: its register-by runs
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(message.message_id, message.lease_token))
    clock = _clock(hub)
    today = clock.local_date(datetime.now(UTC))
    days = hub.settings.at_risk_days
    _registered(hub, overdue, _registered_on_for_due(clock, today, range(-40, 0)), 0)
    _registered(hub, at_risk, _registered_on_for_due(clock, today, range(0, days + 1)), 1)
    _registered(hub, on_time, today, 2)
    _registered(hub, declined, _registered_on_for_due(clock, today, range(-40, 0)), 3)
    events.record(hub, AGENCY, declined, parse_event("decl-3", "declined", {"ground": "repeated"}))

    series = scrape(hub)
    got = {
        (name, deadline): value(series, f"appeals_gateway_appeals_{name}", agency=AGENCY, deadline=deadline)
        for name in ("overdue", "at_risk")
        for deadline in adapter.DEADLINES
    }
    # declined is not final, but the agency has met its duty: not overdue
    assert got == {
        ("overdue", "register"): 0,
        ("overdue", "answer"): 1,
        ("at_risk", "register"): 0,
        ("at_risk", "answer"): 1,
    }
    assert value(series, "appeals_gateway_appeals_overdue", agency="MINZDRAV-21", deadline="answer") == 0

    # the routed appeal's register-by is three days ahead or more: at risk only with a wider window
    with hub.pool.connection() as conn:
        wide = metrics_db.legal_clock(
            conn,
            register_states=sources(Transition.REGISTER),
            answer_states=sources(Transition.ANSWER),
            at_risk_days=12,
        )
    assert {(r["deadline"], r["at_risk"]) for r in wide if r["agency"] == AGENCY} == {
        ("register", 1),
        ("answer", 1),
    }


def test_certificates_are_named_by_cn_or_by_agency_code(hub, dev_pki) -> None:
    series = scrape(hub)
    found = {
        dict(labels)["kind"]: (dict(labels), v)
        for (name, labels), v in series.items()
        if name == "appeals_gateway_certificate_not_after_timestamp_seconds"
    }
    # The bundle may hold GOST roots beside the dev root (where the GOST engine is): one series each.
    anchors = {
        dict(labels)["name"]: v
        for (name, labels), v in series.items()
        if name == "appeals_gateway_certificate_not_after_timestamp_seconds"
        and dict(labels)["kind"] == "trust-anchor"
    }
    anchor = x509.load_pem_x509_certificate(dev_pki.trust_anchors.read_bytes())
    bundle = x509.load_pem_x509_certificates(hub.settings.trust_anchor_file.read_bytes())
    assert anchors == {
        c.subject.rfc4514_string().removeprefix("CN="): c.not_valid_after_utc.timestamp() for c in bundle
    }
    assert anchor.subject.rfc4514_string().removeprefix("CN=") in anchors
    agency_cert = x509.load_pem_x509_certificate(dev_pki.agency_cert.read_bytes())
    labels, not_after = found["agency-answer"]
    assert labels["name"] == AGENCY  # not the certificate's CN: that may name a person
    assert not_after == agency_cert.not_valid_after_utc.timestamp()
    assert "hub-signing" not in found  # these settings have no hub certificate: nothing to say


def test_intake_pulls_acks_and_verifications_are_counted_in_process(hub, portal, dev_pki) -> None:
    accepted = counter("appeals_gateway_intake_accepted_total", duplicate="false")
    duplicates = counter("appeals_gateway_intake_accepted_total", duplicate="true")
    unknown_sender = counter("appeals_gateway_intake_rejected_total", code="sender-unknown")
    verified = counter("appeals_gateway_signature_verification_seconds_count", document="envelope")
    answers = counter("appeals_gateway_signature_verification_seconds_count", document="answer")
    pulls = counter("appeals_gateway_mailbox_pull_seconds_count", agency=AGENCY)
    leased = counter("appeals_gateway_mailbox_leased_messages_total", agency=AGENCY)
    acks = counter("appeals_gateway_mailbox_acks_total", agency=AGENCY, outcome="acknowledged")
    unknown = counter("appeals_gateway_mailbox_acks_total", agency=AGENCY, outcome="not-found")

    envelope = portal.envelope(sample_appeal(1))
    intake.accept(hub, envelope)
    intake.accept(hub, envelope)
    with pytest.raises(Rejection):
        intake.accept(hub, portal.envelope(sample_appeal(2), message_header("NO-SUCH-PORTAL")))
    (message,) = mailbox.lease(hub, AGENCY, 5)
    mailbox.lease(hub, AGENCY, 5)  # an empty pull is a pull
    mailbox.acknowledge(
        hub,
        AGENCY,
        [mailbox.Ack(message.message_id, message.lease_token), mailbox.Ack(uuid4(), uuid4())],
    )
    _registered(hub, message.appeal_id, date.today(), 0)
    answer = signed_answer(
        sample_answer(message.appeal_id, "M-0"),
        dev_pki.agency_key.read_bytes(),
        dev_pki.agency_cert.read_bytes(),
    )
    events.record(hub, AGENCY, message.appeal_id, parse_event("ans", "answered", {}, answer=answer))

    assert counter("appeals_gateway_intake_accepted_total", duplicate="false") == accepted + 1
    assert counter("appeals_gateway_intake_accepted_total", duplicate="true") == duplicates + 1
    assert counter("appeals_gateway_intake_rejected_total", code="sender-unknown") == unknown_sender + 1
    assert (
        counter("appeals_gateway_signature_verification_seconds_count", document="envelope") == verified + 3
    )
    assert counter("appeals_gateway_signature_verification_seconds_count", document="answer") == answers + 1
    assert counter("appeals_gateway_mailbox_pull_seconds_count", agency=AGENCY) == pulls + 2
    assert counter("appeals_gateway_mailbox_leased_messages_total", agency=AGENCY) == leased + 1
    assert counter("appeals_gateway_mailbox_acks_total", agency=AGENCY, outcome="acknowledged") == acks + 1
    assert counter("appeals_gateway_mailbox_acks_total", agency=AGENCY, outcome="not-found") == unknown + 1


def test_a_scrape_without_the_database_still_answers_and_says_so() -> None:
    def unreachable() -> adapter.HubState:
        raise ConnectionError("database away")

    body, _ = adapter.render(adapter.StateCollector(unreachable), None)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["appeals_gateway_database_up"].samples[0].value == 0
    assert "appeals_gateway_intake_accepted" in families  # the in-process ones still come
    assert "appeals_gateway_mailbox_messages" not in families


def test_serve_empties_the_multiprocess_directory(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "counter_4242.db"  # a worker of the last run
    stale.write_bytes(b"")
    monkeypatch.setenv(adapter.MULTIPROC_ENV, str(tmp_path))
    adapter.reset_multiprocess_dir()
    assert not stale.exists()


def test_the_audit_records_waiting_to_be_chained_and_the_oldest_s_wait(hub, portal) -> None:
    from gateway.service.audit_chain import seal

    intake.accept(hub, portal.envelope(sample_appeal(1)))  # its audit record waits: no relay runs
    with hub.pool.connection() as conn:
        conn.execute(
            "INSERT INTO audit_record (actor, action, at) "
            "VALUES ('tests', 'old', now() - interval '90 seconds')"
        )
        written = conn.execute("SELECT count(*) AS n FROM audit_record").fetchone()["n"]
    series = scrape(hub)
    assert written >= 2 and value(series, "appeals_gateway_audit_unchained_records") == written
    assert 90 <= value(series, "appeals_gateway_audit_unchained_oldest_seconds") < 150

    seal(hub)
    series = scrape(hub)
    assert value(series, "appeals_gateway_audit_unchained_records") == 0
    assert value(series, "appeals_gateway_audit_unchained_oldest_seconds") == 0
