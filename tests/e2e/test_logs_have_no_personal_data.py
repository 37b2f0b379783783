"""No personal data reaches a log line: the proof, with the processes as deployed.

The hub (``appeals-gateway serve``) and a delivery worker (``appeals-gateway worker``, its relay
as a child) run at DEBUG with their output captured. Appeals whose every personal field carries
a marker string go through intake (accepted, and refused three ways), an agency's EDMS over REST
and SOAP (pull, acknowledge, register, assign, answer, refuse a notice), the applicant's
withdrawal and feedback, the cabinet (through the worker) and the public status lookup. Then
everything both processes wrote is read: every line on stderr is a JSON object with a timestamp
and a level; the appeals' ids and the request ids are there (so silence cannot pass); and no
marker, token or access code is anywhere, in any case, nor URL-, JSON- or base64-encoded.

The worker runs on kombu's filesystem transport under a folder of its own (the transport
``make run`` uses), so this test needs no RabbitMQ and shares no queue with other tests.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.domain.model import ApplicantType, PersonName, PostalAddress, Signatory
from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.edms import Edms
from gateway.simulators.portal import give_feedback, push, withdraw
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal
from tests.conftest import APPEAL_TABLES, _free_port

AGENCY = "ADM-CHEBOKSARY"
PORTAL = "EPGU"
CLI = [sys.executable, "-m", "gateway.faces.cli.main"]
SOAP_STATISTICS = """<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:sed="urn:appeals-gateway:sed:1"><soap:Header>
  <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
    <wsse:UsernameToken><wsse:Username>{agency}</wsse:Username><wsse:Password>{token}</wsse:Password>
    </wsse:UsernameToken></wsse:Security></soap:Header>
  <soap:Body><sed:GetQueueStatistics/></soap:Body></soap:Envelope>"""


# --- the processes ----------------------------------------------------------------------------


@dataclass
class Running:
    """A CLI process with its stdout and stderr in files of their own."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def tail(self) -> str:
        return f"--- {self.name}\n" + self.stderr.read_text(errors="replace")[-3000:]


def _start(name: str, args: list[str], env: dict[str, str], folder: Path) -> Running:
    stdout, stderr = folder / f"{name}.stdout", folder / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [*CLI, *args], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err,
            start_new_session=True,  # SIGTERM to the group reaches the worker's pool and relay
        )  # fmt: skip
    return Running(name, proc, stdout, stderr)


def _wait(condition: Callable[[], object], what: str, *processes: Running, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(p.tail() for p in processes))


def _process_env(settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "GATEWAY_BROKER_URL")}
    return {
        **env,
        "DATABASE_URL": settings.database_url,
        "GATEWAY_TRUST_ANCHORS": str(settings.trust_anchors),
        "GATEWAY_OPERATOR_TOKENS_SHA256": json.dumps(settings.operator_tokens_sha256),
        "GATEWAY_LOG_LEVEL": "DEBUG",
        "GATEWAY_LOG_FORMAT": "json",
        **extra,
    }


# --- the markers ------------------------------------------------------------------------------


@dataclass
class Secrets:
    """Strings that must never be logged, by what they stand for."""

    values: dict[str, str] = field(default_factory=dict)

    def new(self, what: str, prefix: str = "MRK") -> str:
        value = f"{prefix}{what}{secrets.token_hex(6)}"
        self.values[what] = value
        return value

    def add(self, what: str, value: str) -> str:
        self.values[what] = value
        return value


def _base64_forms(value: bytes) -> set[str]:
    """What ``value`` looks like inside any base64 text, at each of the three alignments."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value).decode()
        whole_groups = (shift + len(value)) // 3 * 4
        forms.add(encoded[4 if shift else 0 : whole_groups])
    return {f for f in forms if len(f) >= 8}


def _forms(value: str) -> set[str]:
    """The secret as text, URL-encoded, JSON-escaped, as Python prints its bytes, and
    base64-encoded; lower-cased."""
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        repr(value.encode())[2:-1],
    }
    forms |= _base64_forms(value.encode())
    return {f.lower() for f in forms}


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class Logged:
    hub: Running
    worker: Running
    secrets: Secrets
    appeal_ids: dict[str, str]
    request_ids: dict[str, str]

    def stderr_lines(self) -> list[tuple[str, str]]:
        return [
            (p.name, line)
            for p in (self.hub, self.worker)
            for line in p.stderr.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for _, line in self.stderr_lines()]

    def everything(self) -> str:
        """All the processes wrote, lower-cased, and each JSON line again with escapes decoded."""
        texts = [p.read_text(encoding="utf-8", errors="replace") for r in (self.hub, self.worker)
                 for p in (r.stdout, r.stderr)]  # fmt: skip
        texts += [json.dumps(record, ensure_ascii=False) for record in self.records()]
        return "\n".join(texts).lower()


def _appeal_with_markers(s: Secrets, seq: int, **kwargs: Any):
    """A sample appeal whose every personal field carries a marker (``kwargs`` to sample_appeal)."""
    appeal = sample_appeal(seq, **kwargs)
    applicant = dataclasses.replace(
        appeal.applicant,
        person=PersonName(s.new(f"last{seq}"), s.new(f"first{seq}", "Мрк"), s.new(f"middle{seq}")),
        email=s.new(f"email{seq}") + "@mail.example",
        phone="+7" + s.add(f"phone{seq}", "".join(secrets.choice("0123456789") for _ in range(13))),
        postal_address=PostalAddress(f"г. Чебоксары, ул. {s.new(f'street{seq}')}, д. 1", "428000"),
        organisation=(
            dataclasses.replace(appeal.applicant.organisation, name=s.new(f"organisation{seq}"))
            if appeal.applicant.organisation
            else None
        ),
    )
    identity = dataclasses.replace(appeal.identity, subject_id=s.new(f"subject{seq}"))
    return dataclasses.replace(
        appeal,
        applicant=applicant,
        identity=identity,
        subject=s.new(f"topic{seq}"),
        text=f"Прошу разобраться: {s.new(f'text{seq}', 'Текст')} — и ответить.",
    )


def _refused_pushes(client: httpx.Client, portal, s: Secrets) -> dict[str, int]:
    """A tampered envelope, a schema violation and malformed XML, all carrying markers."""
    signed = portal.envelope(_appeal_with_markers(s, 9))
    tampered = signed.replace(s.values["text9"].encode(), s.new("tampered").encode())
    plain = sample_appeal(10)
    invalid = dataclasses.replace(
        plain, applicant=dataclasses.replace(plain.applicant, phone="+7" + s.new("badphone"))
    )
    return {
        "signature-invalid": push(client, tampered).status_code,
        "schema-violation": push(client, portal.envelope(invalid)).status_code,
        "malformed-xml": push(client, b"<Envelope><Text>" + s.new("malformed").encode()).status_code,
    }


@pytest.fixture(scope="module")
def logged(
    settings, session_hub, registry, dev_pki, portal, smtp_session, tmp_path_factory
) -> Iterator[Logged]:
    with session_hub.pool.connection() as conn:
        conn.execute(f"TRUNCATE {APPEAL_TABLES} CASCADE")
    folder = tmp_path_factory.mktemp("logs")
    tokens = registry[1]
    s = Secrets()
    for name, token in tokens.items():
        s.add(f"token-{name}", token)
    port = _free_port()
    smtp_session.handler.reset()
    mail = {  # e-mail to applicants through the recording SMTP server
        "GATEWAY_SMTP_HOST": smtp_session.host,
        "GATEWAY_SMTP_PORT": str(smtp_session.port),
        "GATEWAY_SMTP_SECURITY": "none",
        "GATEWAY_PUBLIC_URL": "https://appeals.example.ru",
    }
    with FakeCabinet(dev_pki.hub_cert.read_bytes()) as cabinet:
        hub_env = _process_env(settings, GATEWAY_DATA_DIR=str(settings.data_dir), **mail)
        hub = _start("hub", ["serve", "--host", "127.0.0.1", "--port", str(port)], hub_env, folder)
        worker_env = _process_env(
            settings,
            GATEWAY_DATA_DIR=str(folder / "worker-var"),  # its own filesystem broker
            GATEWAY_CABINET_URL=cabinet.url,
            GATEWAY_HUB_KEY=str(dev_pki.hub_key),
            GATEWAY_HUB_CERTIFICATE=str(dev_pki.hub_cert),
            GATEWAY_RELAY_POLL_SECONDS="0.2",
            GATEWAY_DELIVERY_RETRY_BASE_SECONDS="0.2",
            **mail,
        )
        worker = _start("worker", ["worker", "--concurrency", "1"], worker_env, folder)
        try:
            url = f"http://127.0.0.1:{port}"

            def live() -> bool:
                try:
                    return httpx.get(url + "/health/live", timeout=1).status_code == 200
                except httpx.TransportError:
                    return hub.proc.poll() is not None

            _wait(live, "the hub to listen", hub)
            assert hub.proc.poll() is None, hub.tail()
            with httpx.Client(base_url=url, timeout=30) as client:
                appeal_ids, request_ids = _play(client, portal, tokens, dev_pki, cabinet, s, hub, worker)
            # a: registered, answered; b: registered (assigned and withdrawn are not mailed)
            _wait(lambda: len(smtp_session.received) >= 3, "the applicants' e-mail", hub, worker)
        finally:
            hub.stop()
            worker.stop()
    yield Logged(hub, worker, s, appeal_ids, request_ids)


def _play(client, portal, tokens, dev_pki, cabinet, s: Secrets, *processes: Running):
    """Everything the hub does with an appeal's personal data, once; the ids it gave back."""
    edms = Edms(client, tokens[AGENCY])
    scan = b"%PDF-1.4 " + s.new("scancontent").encode()
    file_name = s.new("filename") + ".pdf"
    answered = _appeal_with_markers(
        s, 1, attachments=(attachment_header("scan-1", file_name, "application/pdf", scan),)
    )
    response = push(client, portal.envelope(answered), {"scan-1": (file_name, scan, "application/pdf")})
    assert response.status_code == 201, response.text
    withdrawn = _appeal_with_markers(s, 2, applicant_type=ApplicantType.LEGAL_ENTITY)
    response_b = push(client, portal.envelope(withdrawn, sign_as_applicant=True))
    assert response_b.status_code == 201, response_b.text
    a, b = response.json()["appeal_id"], response_b.json()["appeal_id"]
    assert _refused_pushes(client, portal, s) == {
        "signature-invalid": 422,
        "schema-violation": 400,
        "malformed-xml": 400,
    }

    edms.ack(edms.pull(limit=10))
    number_a, number_b = s.new("number-a", "ОГ-"), s.new("number-b", "ОГ-")
    edms.register(a, number_a, date.today(), "reg-a")
    edms.register(b, number_b, date.today(), "reg-b")
    edms.send_event(a, "assigned", "asg-a", executor=s.new("executor"))
    document = dataclasses.replace(
        sample_answer(a, number_a),
        text=s.new("answertext", "Ответ"),
        signatory=Signatory(s.new("signatory"), "Начальник управления"),
    )
    edms.answer(a, "ans-a", document, dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes())
    soap = client.post(
        "/sed/soap/v1",
        content=SOAP_STATISTICS.format(agency=AGENCY, token=tokens[AGENCY]),
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )
    assert soap.status_code == 200, soap.text

    assert withdraw(client, tokens[PORTAL], b, "w-1", s.new("reason")).status_code == 201
    assert give_feedback(client, tokens[PORTAL], a, "f-1", 4, s.new("comment")).status_code == 201
    notices = edms.pull(limit=10)
    assert {n["kind"] for n in notices} == {"withdrawal", "feedback"}
    for notice in notices:
        reason = s.new("refusal-" + notice["kind"])
        assert edms.ack_one(notice["message_id"], notice["lease_token"], False, reason) == "refused"

    def delivered() -> bool:
        return {r.update["seq"] for r in cabinet.history(a)} >= {1, 2, 3} and {
            r.update["seq"] for r in cabinet.history(b)
        } >= {1, 2}

    _wait(delivered, "the cabinet to have every update", *processes)
    [registered] = [r.update for r in cabinet.history(a) if r.update["type"] == "registered"]
    access_code = s.add("access-code", registered["access_code"])

    request_ids = {"sent": "logs-test-" + secrets.token_hex(4)}
    wrong = client.get(
        "/public/v1/status",
        params={"number": s.new("wrongnumber", "ОГ-"), "code": s.new("wrongcode")},
        headers={"X-Request-Id": request_ids["sent"]},
    )
    assert (wrong.status_code, wrong.headers["X-Request-Id"]) == (404, request_ids["sent"])
    right = client.get(
        "/public/v1/status",
        params={"number": number_a, "code": access_code},
        headers={"X-Request-Id": "not sane " + s.new("requestid")},
    )
    assert right.status_code == 200, right.text
    request_ids["generated"] = right.headers["X-Request-Id"]
    return {"answered": a, "withdrawn": b}, request_ids


# --- the proof --------------------------------------------------------------------------------


def test_every_line_on_stderr_is_a_json_object_with_a_timestamp_and_a_level(logged):
    lines = logged.stderr_lines()
    assert len(lines) > 50
    for process, line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), (process, line)
        assert record["timestamp"].endswith("Z") and record["level"] and record["event"], (process, line)


def test_no_personal_data_token_or_access_code_is_logged_in_any_encoding(logged):
    everything = logged.everything()
    assert len(logged.secrets.values) > 30
    leaked = {
        what: form
        for what, value in logged.secrets.values.items()
        for form in _forms(value)
        if form in everything
    }
    assert not leaked


def test_the_ids_an_operator_needs_are_logged(logged):
    records = logged.records()
    a, b = logged.appeal_ids["answered"], logged.appeal_ids["withdrawn"]

    def find(event: str, **fields: Any) -> list[dict[str, Any]]:
        return [r for r in records if r["event"] == event and all(r.get(k) == v for k, v in fields.items())]

    for appeal_id in (a, b):
        assert find("appeal accepted", appeal_id=appeal_id, sender=PORTAL, routed_to=AGENCY, duplicate=False)
    refused = {r["code"] for r in find("intake rejected")}
    assert refused == {"signature-invalid", "schema-violation", "malformed-xml"}
    assert {r["type"] for r in find("agency event recorded", appeal_id=a, agency=AGENCY)} == {
        "registered",
        "assigned",
        "answered",
    }
    assert find("appeal withdrawn", appeal_id=b, sender=PORTAL)
    assert find("feedback given", appeal_id=a, sender=PORTAL)
    assert find("mailbox leased", agency=AGENCY)
    assert any(r["outcomes"].get("refused") for r in find("mailbox acknowledged", agency=AGENCY))
    delivered = {r["appeal_id"] for r in find("delivery attempted", connector="cabinet", outcome="delivered")}
    assert {a, b} <= delivered
    mailed = [
        r["appeal_id"] for r in find("delivery attempted", connector="applicant-mail", outcome="delivered")
    ]
    assert sorted(mailed) == sorted([a, a, b])
    assert find("relay published")


def test_every_request_has_an_access_line_with_its_request_id_and_no_query(logged):
    records = logged.records()
    access = [r for r in records if r["logger"] == "gateway.access"]
    sent, generated = logged.request_ids["sent"], logged.request_ids["generated"]
    [wrong] = [r for r in access if r["request_id"] == sent]
    [right] = [r for r in access if r["request_id"] == generated]
    assert uuid.UUID(generated)
    for line, status in ((wrong, 404), (right, 200)):
        assert (line["method"], line["path"], line["status"], line["face"]) == (
            "GET",
            "/public/v1/status",
            status,
            "public",
        )
    sed = [r for r in access if r["face"] == "sed"]
    assert sed and all(r["caller"] == AGENCY for r in sed if r["status"] < 400)
    assert any(r.get("operation") == "GetQueueStatistics" and r["caller"] == AGENCY for r in access)
    withdrawal = [r for r in access if r["path"] == "/portal/v1/appeals/{appeal_id}/withdrawal"]
    assert [(r["caller"], r["appeal_id"]) for r in withdrawal] == [(PORTAL, logged.appeal_ids["withdrawn"])]
    # the service's lines during a request carry its id too
    [accepted] = [
        r
        for r in records
        if r["event"] == "appeal accepted" and r["appeal_id"] == logged.appeal_ids["answered"]
    ]
    assert any(r["request_id"] == accepted["request_id"] and r["logger"] == "gateway.access" for r in access)
