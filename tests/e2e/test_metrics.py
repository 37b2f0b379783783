"""``/metrics`` of a hub as deployed with several workers, and the alert rules evaluated on it.

The hub here runs two uvicorn workers in prometheus_client's multiprocess mode, trusts a portal CA
that expires in 10 days and signs with a certificate that expires in 3 (its configuration is the
state the certificate alert is about). Each alert rule gets a test that makes its state through
the hub's faces and services, scrapes ``/metrics`` and has promtool evaluate deploy/prometheus/
alerts.yml on what was scraped (tests/e2e/alerting.py).

Only one kind of state cannot be reached without waiting: age. Where a rule needs a message or an
outbox row to be minutes old, the test moves its timestamp back in the database and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.adapters.pki import issue_certificate, make_ca
from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import DeliveryError, OutgoingMessage, RetryPolicy
from gateway.service import delivery
from gateway.service.audit_chain import seal
from gateway.simulators.edms import Edms
from gateway.simulators.portal import push
from gateway.simulators.samples import sample_appeal
from tests.conftest import _free_port
from tests.e2e import alerting
from tests.e2e.pushing import push_samples

# The metrics hub's delivery queue: its own, so the broker families have a queue to report on.
METRICS_QUEUE = f"deliveries-metrics-{uuid.uuid4().hex[:8]}"
PULLING = "ADM-CHEBOKSARY"  # the sample appeal's topic and territory route here
NOT_PULLING = "MINZDRAV-21"
NOT_PULLING_TOPIC = "0003.0009.0001.0001"  # routes to MINZDRAV-21
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory, dev_pki) -> dict[str, Path]:
    """The dev trust anchors plus a portal CA that expires in 10 days; a hub certificate of 3 days."""
    directory = tmp_path_factory.mktemp("short-lived")
    ca_key, ca_cert = make_ca("Portal CA expiring (tests)", valid_days=10)
    _, hub_cert = issue_certificate(
        ca_key, ca_cert, "Appeals Gateway Hub (tests)", not_after=datetime.now(UTC) + timedelta(days=3)
    )
    anchors, hub = directory / "trust-anchors.pem", directory / "hub.pem"
    anchors.write_bytes(dev_pki.trust_anchors.read_bytes() + ca_cert)
    hub.write_bytes(hub_cert)
    return {"anchors": anchors, "hub": hub}


@pytest.fixture(scope="module")
def metrics_url(
    settings, session_hub, certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A hub of two uvicorn workers sharing a PROMETHEUS_MULTIPROC_DIR, on the test database."""
    port = _free_port()
    multiproc = tmp_path_factory.mktemp("prometheus-multiproc")
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_TRUST_ANCHORS": str(certificates["anchors"]),
        "GATEWAY_HUB_CERTIFICATE": str(certificates["hub"]),
        "GATEWAY_OPERATOR_TOKENS_SHA256": json.dumps(settings.operator_tokens_sha256),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "GATEWAY_DELIVERY_QUEUE": METRICS_QUEUE,
    }
    log_path = tmp_path_factory.mktemp("metrics-hub") / "hub.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "gateway.faces.rest.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        # Both workers are up once each has written its files (one set per process id).
        while len({p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("*.db")}) < 2 or not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the hub did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def broker_queues(broker_url) -> Iterator[str]:
    """The metrics hub's delivery queues, declared as the worker declares them, deleted after."""
    from kombu import Connection

    from gateway.adapters.broker import dead_letter_queue, delivery_queue

    with Connection(broker_url) as conn:
        channel = conn.default_channel
        queues = [delivery_queue(broker_url, METRICS_QUEUE), dead_letter_queue(METRICS_QUEUE)]
        for queue in queues:
            queue.bind(channel).declare()
        yield METRICS_QUEUE
        for queue in queues:
            queue.bind(channel).delete()


def test_http_requests_per_route_soap_faults_by_code_and_queue_depth_are_exported(client, broker_queues):
    before = alerting.scrape(client)
    route = "/sed/v1/messages"
    count = "appeals_gateway_http_request_duration_seconds_count"
    seen = before.value(count, face="sed", route=route, method="GET", status="401") or 0
    assert client.get(route).status_code == 401
    faults = before.value("appeals_gateway_soap_faults_total", code="malformed-xml") or 0
    assert client.post("/sed/soap/v1", content=b"<no").status_code == 500
    assert client.get("/no/such/path").status_code == 404
    after = alerting.scrape(client)
    assert after.value(count, face="sed", route=route, method="GET", status="401") == seen + 1
    assert after.value(count, face="other", route="unmatched", method="GET", status="404") >= 1
    assert after.value("appeals_gateway_soap_faults_total", code="malformed-xml") == faults + 1
    assert after.value("appeals_gateway_broker_up") == 1
    assert after.value("appeals_gateway_broker_queue_messages", queue=broker_queues) == 0
    assert after.value("appeals_gateway_broker_queue_consumers", queue=broker_queues + ".dead") == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def client(metrics_url, hub) -> Iterator[httpx.Client]:
    """A client of the metrics hub, on a database emptied of appeals (``hub``)."""
    with httpx.Client(base_url=metrics_url, timeout=30) as c:
        yield c


def _age(hub, table: str, minutes: int) -> None:
    """Time passing, which no call can make: the rows of ``table`` become ``minutes`` older."""
    columns = {
        "mailbox_message": ("created_at",),
        "outbox_message": ("created_at", "next_attempt_at"),
        "audit_record": ("at",),
    }[table]
    moved = ", ".join(f"{c} = {c} - make_interval(mins => %(m)s)" for c in columns)
    with hub.pool.connection() as conn:
        conn.execute(f"UPDATE {table} SET {moved}", {"m": minutes})


# --- the endpoint ---------------------------------------------------------------------------


def test_metrics_needs_no_credentials_and_speaks_the_scrapers_format(client) -> None:
    plain = client.get("/metrics")
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE appeals_gateway_mailbox_messages gauge" in plain.text
    assert "appeals_gateway_database_up 1.0" in plain.text
    openmetrics = client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert openmetrics.text.endswith("# EOF\n")


def test_counters_of_all_workers_add_up_in_every_scrape(client, portal) -> None:
    before = alerting.scrape(client).value("appeals_gateway_intake_accepted_total", duplicate="false")

    def push_alone(i: int) -> int:  # a connection of its own, so the two workers share the pushes
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            return push(own, portal.envelope(sample_appeal(i))).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(push_alone, range(8))) == [201] * 8
    for _ in range(6):
        with httpx.Client(base_url=str(client.base_url), timeout=30) as own:
            now = alerting.scrape(own)
        assert now.value("appeals_gateway_intake_accepted_total", duplicate="false") == before + 8
        assert now.value("appeals_gateway_mailbox_messages", agency=PULLING, status="pending") == 8


# --- each alert rule, on a state made for real ----------------------------------------------


def test_agency_not_pulling(client, hub, portal, registry) -> None:
    """NOT_PULLING never pulls its appeal; PULLING pulls one of its two and leaves the other pending."""
    push_samples(client, portal, 1, topic_code=NOT_PULLING_TOPIC)
    push_samples(client, portal, 2)
    _age(hub, "mailbox_message", 20)  # the pushes were 20 minutes ago
    assert len(Edms(client, registry[1][PULLING]).pull(limit=1)) == 1

    scraped = alerting.scrape(client)
    age = "appeals_gateway_mailbox_oldest_pending_age_seconds"
    assert scraped.value(age, agency=NOT_PULLING) > 1200 and scraped.value(age, agency=PULLING) > 1200
    last_pull = "appeals_gateway_agency_last_pull_timestamp_seconds"
    assert scraped.value(last_pull, agency=NOT_PULLING) is None
    assert scraped.at - scraped.value(last_pull, agency=PULLING) < 60
    alerting.assert_fires(scraped, "AgencyNotPulling", "critical", agency=NOT_PULLING)
    alerting.assert_silent(scraped, "AgencyNotPulling", agency=PULLING)  # behind, but pulling


def _registered(client, portal, registry, registered_on: date) -> str:
    """An appeal pushed, pulled, acknowledged and registered over REST: a cabinet update is queued."""
    (appeal_id,) = push_samples(client, portal, 1)
    edms = Edms(client, registry[1][PULLING])
    edms.ack(edms.pull())
    edms.register(appeal_id, f"M-{appeal_id[:8]}", registered_on, f"reg-{appeal_id}")
    return appeal_id


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[int, int]] = []

    def publish(self, outbox_id: int, attempt: int) -> None:
        self.published.append((outbox_id, attempt))


class RefusingCabinet:
    """The cabinet's answer to a request it will never take (a 4xx): the delivery is dead at once."""

    def deliver(self, message: OutgoingMessage) -> None:
        raise DeliveryError("cabinet answered 401 signature-invalid", permanent=True)


def test_dead_deliveries(client, hub, portal, registry) -> None:
    _registered(client, portal, registry, date.today())
    publisher = RecordingPublisher()  # the relay's broker
    delivery.relay_once(hub, publisher)
    ((outbox_id, attempt),) = publisher.published
    policy = RetryPolicy(timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1))
    assert delivery.attempt(hub, outbox_id, attempt, lambda *_: RefusingCabinet(), policy) == "dead"

    scraped = alerting.scrape(client)
    assert scraped.value("appeals_gateway_deliveries", connector="cabinet", status="dead") == 1
    assert (
        scraped.value("appeals_gateway_delivery_attempts_last_5m", connector="cabinet", outcome="dead") == 1
    )
    alerting.assert_fires(scraped, "DeadDeliveries", "warning", connector="cabinet")


def test_outbox_lag(client, hub, portal, registry) -> None:
    _registered(client, portal, registry, date.today())  # no relay runs: the update stays due
    _age(hub, "outbox_message", 10)  # ... for 10 minutes

    scraped = alerting.scrape(client)
    assert scraped.value("appeals_gateway_outbox_lag_seconds") > 600
    alerting.assert_fires(scraped, "OutboxLag", "critical")


def test_audit_not_chained(client, hub, portal, registry) -> None:
    _registered(client, portal, registry, date.today())  # no relay runs: its records wait
    _age(hub, "audit_record", 10)  # ... for 10 minutes

    scraped = alerting.scrape(client)
    assert scraped.value("appeals_gateway_audit_unchained_records") > 0
    assert scraped.value("appeals_gateway_audit_unchained_oldest_seconds") > 600
    alerting.assert_fires(scraped, "AuditNotChained", "critical")

    seal(hub)
    alerting.assert_silent(alerting.scrape(client), "AuditNotChained")


def test_delivery_workers_down(client, hub, portal, registry) -> None:
    _registered(client, portal, registry, date.today())
    delivery.relay_once(hub, RecordingPublisher())  # published to a queue no worker consumes
    with hub.pool.connection() as conn:  # time passing: the task has waited 10 minutes
        conn.execute("UPDATE outbox_message SET published_at = published_at - interval '10 minutes'")
    policy = RetryPolicy(timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1))
    assert delivery.reclaim_lost(hub, policy, timedelta(minutes=5)) == 1  # what the relay does

    scraped = alerting.scrape(client)
    assert (
        scraped.value("appeals_gateway_delivery_attempts_last_5m", connector="cabinet", outcome="lost") == 1
    )
    assert scraped.value("appeals_gateway_outbox_lag_seconds") < 300  # OutboxLag stays silent
    alerting.assert_fires(scraped, "DeliveryWorkersDown", "critical", connector="cabinet")
    alerting.assert_silent(scraped, "OutboxLag")


def test_appeals_overdue(client, portal, registry) -> None:
    # The EDMS reports a registration of two months ago (the service takes past dates): the 30-day
    # answer period has run out.
    _registered(client, portal, registry, date.today() - timedelta(days=60))

    scraped = alerting.scrape(client)
    assert scraped.value("appeals_gateway_appeals_overdue", agency=PULLING, deadline="answer") == 1
    alerting.assert_fires(scraped, "AppealsOverdue", "warning", agency=PULLING, deadline="answer")
    alerting.assert_silent(scraped, "AppealsOverdue", agency=PULLING, deadline="register")


def test_certificate_expires_soon(client, dev_pki) -> None:
    scraped = alerting.scrape(client)
    name = "appeals_gateway_certificate_not_after_timestamp_seconds"
    days_left = {
        (s.labels["kind"], s.labels["name"]): (s.value - scraped.at) / 86400
        for s in scraped.samples
        if s.name == name
    }
    assert 9 < days_left[("trust-anchor", "Portal CA expiring (tests)")] < 10
    assert 2 < days_left[("hub-signing", "Appeals Gateway Hub (tests)")] < 3
    assert days_left[("agency-answer", PULLING)] > 700

    expiring_ca = scraped.labels(name, kind="trust-anchor", name="Portal CA expiring (tests)")
    alerting.assert_fires(scraped, "CertificateExpiresSoon", "warning", **expiring_ca)
    alerting.assert_silent(scraped, "CertificateExpiresSoon", severity="critical", **expiring_ca)
    hub_cert = scraped.labels(name, kind="hub-signing")
    alerting.assert_fires(scraped, "CertificateExpiresSoon", "warning", **hub_cert)
    alerting.assert_fires(scraped, "CertificateExpiresSoon", "critical", **hub_cert)
    dev_ca = x509.load_pem_x509_certificate(dev_pki.trust_anchors.read_bytes())
    dev_cn = dev_ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    alerting.assert_silent(scraped, "CertificateExpiresSoon", kind="trust-anchor", name=dev_cn)
    alerting.assert_silent(scraped, "CertificateExpiresSoon", kind="agency-answer")


# --- the rule and dashboard files -----------------------------------------------------------


def test_the_rules_pass_promtools_checks_and_unit_tests() -> None:
    promtool = alerting.promtool()
    for args in (["check", "rules", str(alerting.RULES)], ["test", "rules", str(alerting.RULE_TESTS)]):
        run = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=alerting.RULES.parent)
        assert run.returncode == 0, run.stdout + run.stderr


def test_rules_and_dashboard_use_only_what_the_hub_exports(client, broker_queues, tmp_path) -> None:
    # A family that has never counted anything is not exported in multiprocess mode: count one.
    refused = client.post("/portal/v1/appeals", content=b"<no", headers={"Content-Type": "application/xml"})
    assert refused.status_code == 400
    assert client.post("/sed/soap/v1", content=b"<no").status_code == 500  # a SOAP fault
    exported = alerting.scrape(client).names
    rules_text = alerting.RULES.read_text(encoding="utf-8")
    dashboard = json.loads(alerting.DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {
        *alerting.METRIC_NAME.findall(rules_text),
        *alerting.METRIC_NAME.findall(alerting.RULE_TESTS.read_text(encoding="utf-8")),
        *(name for e in exprs for name in alerting.METRIC_NAME.findall(e)),
    }
    assert used - exported == set()

    # Every panel expression is valid PromQL: promtool checks it as a recording rule.
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"panel:{i}",
                        "expr": e.replace("$__rate_interval", "5m").replace("$agency", ".*"),
                    }
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(as_rules), encoding="utf-8")
    run = subprocess.run([alerting.promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "appeals-gateway"
