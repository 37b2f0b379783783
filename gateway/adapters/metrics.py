"""Prometheus metrics: what happens in requests, counted in-process, and the hub's state, read at scrape.

Two kinds, because the hub runs as several processes (uvicorn workers, Celery workers, relays):

* **Events in a request** — intake outcomes, signature verification time, pulls and acks with
  their latency — are prometheus_client counters and histograms in the process that served the
  request. With ``PROMETHEUS_MULTIPROC_DIR`` set (it must be set before the process starts and
  be emptied at each start; ``appeals-gateway serve`` empties it), every process writes its
  values to files there and a scrape of any worker adds them all up (prometheus_client's
  multiprocess mode); without it, one process serves and exports its own.
* **State** — mailboxes, deliveries, outbox lag, the legal clock, certificates — lives in
  PostgreSQL and is read when Prometheus scrapes (:class:`StateCollector`), so whichever process
  answers, the numbers are the same and nothing is lost with a restart.

Labels are bounded by construction: agency codes (from the registry), rejection codes (an enum),
connectors, statuses, outcomes; never an appeal's or a message's id, never personal data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "appeals_gateway_"
# Signature checks take milliseconds; a pull or an ack of a batch of 500 up to about a second.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_CALL = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# --- in-process instruments -----------------------------------------------------------------

# A `_created` series per counter and histogram doubles what the text format carries for nothing
# Prometheus uses; rate() and increase() handle resets without it.
disable_created_metrics()

_INTAKE_ACCEPTED = Counter(
    PREFIX + "intake_accepted",
    "Envelopes the portal pushed that got a receipt; duplicate=true: the same bytes again, first receipt",
    ["duplicate"],
)
_INTAKE_REJECTED = Counter(
    PREFIX + "intake_rejected",
    "Envelopes refused, by the problem code the portal got (also recorded in intake_rejection)",
    ["code"],
)
_SCANS = Counter(
    PREFIX + "attachment_scans",
    "Attachments streamed to the antivirus at intake, by outcome: clean, infected, unavailable (the "
    "push was refused with 503 antivirus-unavailable)",
    ["outcome"],
)
_HELD = Counter(
    PREFIX + "held_appeals",
    "Appeals held back from their agency because clamd gave no verdict (GATEWAY_ANTIVIRUS_OUTAGE=hold), "
    "by outcome: held (at intake), released (a later scan passed), infected (a later scan found a "
    "signature: kept for operators)",
    ["outcome"],
)
_SCAN_SECONDS = Histogram(
    PREFIX + "attachment_scan_seconds",
    "Time clamd took over one attachment (streamed with INSTREAM), failures included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_VERIFICATION = Histogram(
    PREFIX + "signature_verification_seconds",
    "Time to verify a signed document, failures included: envelope (the portal's signature, the "
    "applicant's if any, reading the signed message), answer (the agency's answer: parsed, "
    "schema-checked and verified in one call)",
    ["document"],
    buckets=_FAST,
)
_PULL = Histogram(
    PREFIX + "mailbox_pull_seconds",
    "Time to serve one pull (lease) of an agency's EDMS; the count is the number of pulls",
    ["agency"],
    buckets=_CALL,
)
_LEASED = Counter(PREFIX + "mailbox_leased_messages", "Messages handed out by pulls", ["agency"])
_ACK = Histogram(
    PREFIX + "mailbox_ack_seconds",
    "Time to apply one acknowledgement call (one or a batch); the count is the number of calls",
    ["agency"],
    buckets=_CALL,
)
_ACKS = Counter(
    PREFIX + "mailbox_acks",
    "Acknowledgements per message, by outcome (acknowledged, refused, lease-invalid, not-found)",
    ["agency", "outcome"],
)
_CLIENT_ABORTS = Counter(
    PREFIX + "client_aborts",
    "Requests whose client closed the connection before the request body was whole (an upload cut "
    "off), by face; logged with status 499, never counted as the hub's failure",
    ["face"],
)
_HTTP = Histogram(
    PREFIX + "http_request_duration_seconds",
    "HTTP requests by face, route (the path template; unmatched: no route), method and status; the "
    "count is the request rate, status 5xx the hub's errors",
    ["face", "route", "method", "status"],
    buckets=_CALL,
)
_SOAP_FAULTS = Counter(
    PREFIX + "soap_faults",
    "SOAP Faults answered, by their stable code (internal-error: the hub's own failure)",
    ["code"],
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Series that exist from the start, so rate() sees their first increase.
for _duplicate in ("false", "true"):
    _INTAKE_ACCEPTED.labels(_duplicate)
for _document in ("envelope", "answer"):
    _VERIFICATION.labels(_document)
for _face in ("portal", "sed", "soap"):  # the faces that take uploads
    _CLIENT_ABORTS.labels(_face)
for _outcome in ("clean", "infected", "unavailable"):
    _SCANS.labels(_outcome)
for _outcome in ("held", "released", "infected"):
    _HELD.labels(_outcome)


def intake_accepted(*, duplicate: bool) -> None:
    _INTAKE_ACCEPTED.labels("true" if duplicate else "false").inc()


def intake_rejected(code: str) -> None:
    _INTAKE_REJECTED.labels(code).inc()


def attachment_scanned(outcome: str, seconds: float) -> None:
    _SCANS.labels(outcome).inc()
    _SCAN_SECONDS.observe(seconds)


def held_appeal(outcome: str) -> None:
    _HELD.labels(outcome).inc()


def client_aborted(face: str) -> None:
    _CLIENT_ABORTS.labels(face).inc()


def http_request(face: str, route: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request. Labels stay bounded whatever a client sends: the route is the matched
    template (or ``unmatched``), the method one of HTTP's own (or ``other``)."""
    _HTTP.labels(face, route or "unmatched", method if method in _METHODS else "other", str(status)).observe(
        seconds
    )


def soap_fault(code: str) -> None:
    _SOAP_FAULTS.labels(code).inc()


@contextmanager
def verifying(document: str) -> Iterator[None]:
    """Time the check of a signed ``envelope`` or ``answer``, failed ones included."""
    with _VERIFICATION.labels(document).time():
        yield


def pulled(agency: str, messages: int, seconds: float) -> None:
    _PULL.labels(agency).observe(seconds)
    _LEASED.labels(agency).inc(messages)


def acknowledged(agency: str, outcomes: Sequence[str], seconds: float) -> None:
    _ACK.labels(agency).observe(seconds)
    for outcome in outcomes:
        _ACKS.labels(agency, outcome).inc()


# --- the hub's state, read at scrape time ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mailbox:
    agency: str
    pending: int
    leased: int
    refused: int
    oldest_pending_age_s: float
    last_pull: float | None  # epoch seconds; None: the agency never pulled
    last_ack: float | None


@dataclass(frozen=True, slots=True)
class Deliveries:
    connector: str
    status: str  # pending, retrying, in-flight, dead (delivered ones show only in Attempts)
    count: int


@dataclass(frozen=True, slots=True)
class Attempts:
    connector: str
    outcome: str  # delivered, retry, dead, lost
    count: int  # in the last ATTEMPTS_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class ClockCounts:
    agency: str
    deadline: str  # register, answer
    overdue: int
    at_risk: int


@dataclass(frozen=True, slots=True)
class Certificate:
    kind: str  # trust-anchor, hub-signing, agency-answer
    name: str  # the subject's CN, or the agency's code (a signatory's name is personal data)
    fingerprint: str  # SHA-256 of the DER, first 16 hex digits: two CAs may share a CN
    not_after: float  # epoch seconds


def certificates_in(pem: bytes, kind: str, name: str | None = None) -> list[Certificate]:
    """The certificates of a PEM bundle, named ``name`` or else by their subject's CN (a CA's or the
    hub's: no person's). Raises ``ValueError`` for what is not PEM certificates."""
    found = []
    for cert in x509.load_pem_x509_certificates(pem):
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        label = name or (str(cn[0].value) if cn else cert.subject.rfc4514_string())
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()[:16]
        found.append(Certificate(kind, label, fingerprint, cert.not_valid_after_utc.timestamp()))
    return found


@dataclass(frozen=True, slots=True)
class HubState:
    mailboxes: Sequence[Mailbox]
    connectors: Sequence[str]  # every connector has its delivery series, zeros included
    deliveries: Sequence[Deliveries]
    attempts: Sequence[Attempts]
    outbox_lag_s: float
    clock: Sequence[ClockCounts]
    at_risk_days: int
    certificates: Sequence[Certificate]
    audit_unchained: int = 0  # audit records committed but not chained yet (the sealer's window)
    audit_unchained_oldest_s: float = 0.0


DELIVERY_STATUSES = ("pending", "retrying", "in-flight", "dead")
ATTEMPT_OUTCOMES = ("delivered", "retry", "dead", "lost", "bounced")
ATTEMPTS_WINDOW_SECONDS = 300  # named in the family: appeals_gateway_delivery_attempts_last_5m
DEADLINES = ("register", "answer")


class BrokerCollector(Collector):
    """The delivery queues' depth and consumers, asked of the broker once per scrape (a passive
    declare per queue). A broker away is ``appeals_gateway_broker_up 0``, never a failed scrape."""

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read  # → adapters.broker_status.BrokerStatus

    def collect(self) -> Iterator[Metric]:
        status = self._read()
        up = GaugeMetricFamily(
            PREFIX + "broker_up", "1 if this scrape reached the delivery broker (a filesystem one always)"
        )
        up.add_metric([], 1 if status.reachable else 0)
        yield up
        depth = GaugeMetricFamily(
            PREFIX + "broker_queue_messages",
            "Messages waiting in each delivery queue (no series: the queue does not exist yet)",
            labels=["queue"],
        )
        consumers = GaugeMetricFamily(
            PREFIX + "broker_queue_consumers",
            "Consumers (worker processes' channels) of each delivery queue",
            labels=["queue"],
        )
        for queue in status.queues:
            if queue.messages is not None:
                depth.add_metric([queue.name], queue.messages)
            if queue.consumers is not None:
                consumers.add_metric([queue.name], queue.consumers)
        yield depth
        yield consumers


class StateCollector(Collector):
    """A prometheus_client collector that reads the hub's state once per scrape.

    When the state cannot be read (the database is away) it says so in
    ``appeals_gateway_database_up`` instead of failing the scrape, so the in-process families
    still arrive and the outage is a series an alert can use.
    """

    def __init__(self, read: Callable[[], HubState]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(PREFIX + "database_up", "1 if this scrape could read the hub's state")
        try:
            state = self._read()
        except Exception:
            log.exception("metrics: could not read the hub's state")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _mailbox_families(state.mailboxes)
        yield from _delivery_families(state)
        yield from _clock_families(state)
        yield _certificate_family(state.certificates)
        yield from _audit_families(state)


def _mailbox_families(mailboxes: Iterable[Mailbox]) -> Iterator[Metric]:
    messages = GaugeMetricFamily(
        PREFIX + "mailbox_messages",
        "Open messages in each agency's mailbox: pending (can be pulled), leased, refused (waits for "
        "an operator)",
        labels=["agency", "status"],
    )
    oldest = GaugeMetricFamily(
        PREFIX + "mailbox_oldest_pending_age_seconds",
        "Age of the agency's oldest pending message since it was posted (0 when none is pending)",
        labels=["agency"],
    )
    last_pull = GaugeMetricFamily(
        PREFIX + "agency_last_pull_timestamp_seconds",
        "When the agency last pulled its mailbox, whatever the pull returned (absent: never)",
        labels=["agency"],
    )
    last_ack = GaugeMetricFamily(
        PREFIX + "agency_last_ack_timestamp_seconds",
        "When the agency last sent an acknowledgement (absent: never)",
        labels=["agency"],
    )
    for m in mailboxes:
        for status, value in (("pending", m.pending), ("leased", m.leased), ("refused", m.refused)):
            messages.add_metric([m.agency, status], value)
        oldest.add_metric([m.agency], m.oldest_pending_age_s)
        if m.last_pull is not None:
            last_pull.add_metric([m.agency], m.last_pull)
        if m.last_ack is not None:
            last_ack.add_metric([m.agency], m.last_ack)
    return iter((messages, oldest, last_pull, last_ack))


def _delivery_families(state: HubState) -> Iterator[Metric]:
    connectors = sorted({*state.connectors, *(d.connector for d in state.deliveries)})
    counts = {(d.connector, d.status): d.count for d in state.deliveries}
    deliveries = GaugeMetricFamily(
        PREFIX + "deliveries",
        "Undelivered outbox messages (to the cabinet, to push agencies) by status; dead ones wait for an "
        "operator's replay",
        labels=["connector", "status"],
    )
    for connector in connectors:
        for status in DELIVERY_STATUSES:
            deliveries.add_metric([connector, status], counts.get((connector, status), 0))
    attempts = GaugeMetricFamily(
        PREFIX + "delivery_attempts_last_5m",
        "Delivery attempts finished in the last 5 minutes by outcome: delivered, retry (scheduled "
        "again), dead, lost (no worker finished it), bounced (an e-mail's DSN came back)",
        labels=["connector", "outcome"],
    )
    recent = {(a.connector, a.outcome): a.count for a in state.attempts}
    for connector in sorted({*connectors, *(a.connector for a in state.attempts)}):
        for outcome in ATTEMPT_OUTCOMES:
            attempts.add_metric([connector, outcome], recent.get((connector, outcome), 0))
    lag = GaugeMetricFamily(
        PREFIX + "outbox_lag_seconds",
        "How long the oldest due outbox message has waited for the relay to publish it (0: none waits)",
        value=state.outbox_lag_s,
    )
    return iter((deliveries, attempts, lag))


def _clock_families(state: HubState) -> Iterator[Metric]:
    counts = {(c.agency, c.deadline): c for c in state.clock}
    agencies = sorted({m.agency for m in state.mailboxes} | {c.agency for c in state.clock})
    overdue = GaugeMetricFamily(
        PREFIX + "appeals_overdue",
        "Appeals past their legal due date on the agency's calendar: deadline=register (not registered yet) "
        "or answer (registered, not answered yet)",
        labels=["agency", "deadline"],
    )
    at_risk = GaugeMetricFamily(
        PREFIX + "appeals_at_risk",
        f"Appeals due today or within the next {state.at_risk_days} days (GATEWAY_AT_RISK_DAYS), "
        "by deadline (register, answer)",
        labels=["agency", "deadline"],
    )
    for agency in agencies:
        for deadline in DEADLINES:
            c = counts.get((agency, deadline))
            overdue.add_metric([agency, deadline], c.overdue if c else 0)
            at_risk.add_metric([agency, deadline], c.at_risk if c else 0)
    return iter((overdue, at_risk))


def _audit_families(state: HubState) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        PREFIX + "audit_unchained_records",
        "Audit records committed but not chained into the hash chain yet (the relay seals them)",
        value=state.audit_unchained,
    )
    yield GaugeMetricFamily(
        PREFIX + "audit_unchained_oldest_seconds",
        "How long the oldest audit record not chained yet has waited (0: none waits); an edit to it "
        "would not be found",
        value=state.audit_unchained_oldest_s,
    )


def _certificate_family(certificates: Iterable[Certificate]) -> Metric:
    family = GaugeMetricFamily(
        PREFIX + "certificate_not_after_timestamp_seconds",
        "When a certificate the hub relies on expires: trust-anchor (portals' CAs), hub-signing (the hub's "
        "own), agency-answer (each agency's registered answer certificate, named by the agency's code)",
        labels=["kind", "name", "fingerprint"],
    )
    for c in certificates:
        family.add_metric([c.kind, c.name, c.fingerprint], c.not_after)
    return family


# --- exposition -----------------------------------------------------------------------------


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def reset_multiprocess_dir() -> None:
    """Empty the multiprocess directory before the workers start: files of dead processes would
    otherwise be added to the live ones' values (prometheus_client's documented requirement)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


class _Scrape(Collector):
    """What one scrape exports: this process's (or all processes') instruments, then the state."""

    def __init__(self, *sources: Collector) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


def render(state: StateCollector, accept: str | None, *more: Collector) -> tuple[bytes, str]:
    """The exposition body and its content type, in the format the scraper asked for (``Accept``:
    OpenMetrics for Prometheus, the classic text format otherwise)."""
    instruments: Collector = MultiProcessCollector(None) if multiprocess() else REGISTRY
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Scrape(instruments, state, *more)), content_type
