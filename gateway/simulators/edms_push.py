"""A fake agency EDMS that takes pushed appeals (``schemas/sed-push-1.wsdl``) on a real socket.

It behaves as the contract asks an agency to: verifies the hub's signature against the pinned hub
certificate (refusing a bad one with a ``soap:Client`` fault), absorbs a repeated MessageId (the
same receipt, counted as a duplicate), and records what it took. For tests of the hub's delivery
it can also misbehave: fail its first K calls (HTTP 503 with ``Retry-After``, a ``soap:Server``
fault, or a ``soap:Client`` fault) and answer slowly.

A stdlib ``ThreadingHTTPServer`` on a daemon thread: no event loop to share with the code under
test, one thread per call so a slow answer does not hold up the next. In-process::

    with FakePushEdms(hub_cert_pem, fail_first=1) as edms:
        SoapPushConnector(edms.url, key, cert).deliver(message)
        edms.received[0].signed_xml

Out of process: ``python -m gateway.simulators.edms_push --port 8090 --hub-cert var/pki/hub.pem``;
``GET /_received`` shows what was taken (as JSON, without personal data), ``GET <path>?wsdl``
serves the contract with this endpoint's address in it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from cryptography import x509

from gateway.adapters.xmlsec.envelope import load_schema
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import EnvelopeVerifier
from gateway.config import SCHEMAS_DIR
from gateway.domain.errors import Rejection
from gateway.simulators import edms_push_wire as wire

Failure = Literal["http-503", "server-fault", "client-fault"]
FAILURES: tuple[Failure, ...] = ("http-503", "server-fault", "client-fault")
SCHEMAS = SCHEMAS_DIR
WSDL_FILE, XSD_FILE = "sed-push-1.wsdl", "sed-push-1.xsd"
MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedDelivery:
    """One MessageId as first taken: the verified Delivery, our receipt, the request's raw bytes."""

    delivery: wire.Delivery
    receipt_id: str
    request: bytes
    username: str | None
    portal_signature_valid: bool | None  # None: no portal trust anchors were given to check it

    @property
    def message_id(self) -> str:
        return self.delivery.message_id

    @property
    def signed_xml(self) -> bytes:
        return self.delivery.signed_xml


class FakePushEdms:
    """The fake EDMS; ``url`` is its push endpoint once started (``port=0`` picks a free port)."""

    def __init__(
        self,
        hub_certificate_pem: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/sed-push/v1",
        agency_code: str | None = None,
        username: str | None = None,
        password: str | None = None,
        fail_first: int = 0,
        failure: Failure = "http-503",
        retry_after: int | None = None,
        delay: float = 0.0,
        registration_hint: bool = False,
        portal_trust_anchors_pem: bytes | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.hub_certificate = x509.load_pem_x509_certificate(hub_certificate_pem)
        self.path = path
        self.agency_code = agency_code
        self.credentials: tuple[str, str] | None = (
            (username, password) if username is not None and password is not None else None
        )
        self.delay = delay
        self.registration_hint = registration_hint
        self._portal = EnvelopeVerifier(portal_trust_anchors_pem) if portal_trust_anchors_pem else None
        self._lock = threading.Lock()
        self._failing = (fail_first, failure, retry_after)
        self._by_id: dict[str, ReceivedDelivery] = {}
        self._order: list[str] = []
        self.calls = 0
        self.duplicates = 0
        self.failures_injected = 0
        self.refusals: list[str] = []
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.edms = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The push endpoint: register it as the agency's ``push_url``."""
        return self.base_url + self.path

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-edms-push", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests steer and read ---------------------------------------------------------------

    def fail_next(self, count: int, failure: Failure = "http-503", *, retry_after: int | None = None) -> None:
        """Fail the next ``count`` calls this way, whatever they carry (nothing is verified or recorded)."""
        with self._lock:
            self._failing = (count, failure, retry_after)

    @property
    def received(self) -> list[ReceivedDelivery]:
        """Each MessageId taken, once, in the order first taken."""
        with self._lock:
            return [self._by_id[m] for m in self._order]

    def envelope_intact(self, message_id: str, envelope: bytes) -> bool:
        """Whether the portal's envelope arrived byte for byte (its signatures then hold as sent)."""
        with self._lock:
            taken = self._by_id.get(message_id)
        return taken is not None and taken.signed_xml == envelope

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_received`` shows: counters and ids, digests, no personal data."""
        with self._lock:
            deliveries = [self._by_id[m] for m in self._order]
            return {
                "calls": self.calls,
                "duplicates": self.duplicates,
                "failures_injected": self.failures_injected,
                "refusals": list(self.refusals),
                "deliveries": [_public(d) for d in deliveries],
            }

    # --- the operation ---------------------------------------------------------------------------

    def _injected_failure(self) -> tuple[Failure, int | None] | None:
        with self._lock:
            self.calls += 1
            left, failure, retry_after = self._failing
            if left <= 0:
                return None
            self._failing = (left - 1, failure, retry_after)
            self.failures_injected += 1
            return failure, retry_after

    def deliver_appeal(self, raw: bytes) -> bytes:
        """Take one DeliverAppeal request; the answer's body, or raise :class:`wire.Refusal`."""
        try:
            delivery, user = wire.read_request(
                raw,
                self.hub_certificate,
                load_schema(SCHEMAS / XSD_FILE),
                credentials=self.credentials,
                agency_code=self.agency_code,
            )
        except wire.Refusal as refusal:
            with self._lock:
                self.refusals.append(refusal.code)
            raise
        with self._lock:
            taken = self._by_id.get(delivery.message_id)
            duplicate = taken is not None
            if taken is not None:
                if taken.delivery.appeal_id != delivery.appeal_id:
                    self.refusals.append(wire.MESSAGE_ID_REUSED)
                    raise wire.Refusal(wire.MESSAGE_ID_REUSED, "this MessageId came with another appeal")
                self.duplicates += 1
            else:
                taken = ReceivedDelivery(
                    delivery, f"RCPT-{uuid.uuid4().hex[:12]}", raw, user, self._portal_valid(delivery)
                )
                self._by_id[delivery.message_id] = taken
                self._order.append(delivery.message_id)
            number = self._order.index(delivery.message_id) + 1
        hint = self.registration_hint
        return wire.accepted(
            delivery.message_id,
            taken.receipt_id,
            duplicate=duplicate,
            registration_number=f"PUSH-{number:05d}" if hint else None,
            registered_on=datetime.now(UTC).date() if hint else None,
        )

    def _portal_valid(self, delivery: wire.Delivery) -> bool | None:
        if self._portal is None:
            return None
        try:
            self._portal.verify_portal(parse_hardened(delivery.signed_xml, max_depth=wire.MAX_DEPTH))
        except Rejection:
            return False
        return True

    def contract(self, name: str) -> bytes | None:
        """The WSDL (pointing at this endpoint) or its XSD, for toolkits that load them by URL."""
        if name == WSDL_FILE:
            text = (SCHEMAS / WSDL_FILE).read_text(encoding="utf-8")
            text = text.replace("https://edms.agency.example/sed-push/v1", self.url)
            text = text.replace(f'schemaLocation="{XSD_FILE}"', f'schemaLocation="{self.url}?xsd={XSD_FILE}"')
            return text.encode()
        if name == XSD_FILE:
            return (SCHEMAS / XSD_FILE).read_bytes()
        return None


def _public(taken: ReceivedDelivery) -> dict[str, Any]:
    d = taken.delivery
    return {
        "message_id": d.message_id,
        "receipt_id": taken.receipt_id,
        "agency_code": d.agency_code,
        "appeal_id": d.appeal_id,
        "portal_message_id": d.portal_message_id,
        "sender_id": d.sender_id,
        "portal_appeal_id": d.portal_appeal_id,
        "received_at": d.received_at,
        "routing": d.routing,
        "attachments": [{"n": a["n"], "size": a["size"], "sha256": a["sha256"]} for a in d.attachments],
        "signed_xml_bytes": len(d.signed_xml),
        "signed_xml_sha256": d.signed_xml_sha256,
        "portal_signature_valid": taken.portal_signature_valid,
        "username": taken.username,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakePushEdms/1"
    disable_nagle_algorithm = True  # else each answer's second write waits for a delayed ACK (40 ms)

    @property
    def edms(self) -> FakePushEdms:
        return self.server.edms  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters, not the console."""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the hub gave up waiting (a timeout test): nothing to tell it

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/_received":
            body = json.dumps(self.edms.snapshot(), ensure_ascii=False, indent=2).encode()
            return self._send(200, body, "application/json")
        query = parse_qs(parts.query, keep_blank_values=True)
        name = WSDL_FILE if "wsdl" in query else (query.get("xsd") or [""])[0]
        document = self.edms.contract(name) if parts.path == self.edms.path else None
        if document is None:
            return self._send(404, b"not found\n", "text/plain")
        return self._send(200, document, "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != self.edms.path:
            return self._send(404, b"not found\n", "text/plain")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            return self._send(413, b"too large\n", "text/plain")
        raw = self.rfile.read(length)
        injected = self.edms._injected_failure()
        if self.edms.delay:
            time.sleep(self.edms.delay)
        soap = "text/xml; charset=utf-8"
        if injected is not None:
            failure, retry_after = injected
            if failure == "http-503":
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return self._send(503, b"busy\n", "text/plain", headers)
            refusal = (
                wire.Refusal("unavailable", "the EDMS is busy", faultcode="Server", retry_after=retry_after)
                if failure == "server-fault"
                else wire.Refusal("invalid-request", "refused, as told to")
            )
            return self._send(500, wire.fault(refusal), soap)
        try:
            answer = self.edms.deliver_appeal(raw)
        except wire.Refusal as refusal:
            return self._send(500, wire.fault(refusal), soap)
        except Exception:  # our own bug: say so as the contract says a failing EDMS must
            refusal = wire.Refusal("internal-error", "the EDMS failed", faultcode="Server")
            return self._send(500, wire.fault(refusal), soap)
        return self._send(200, answer, soap)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulators.edms_push",
        description=(
            "A fake agency EDMS taking appeals pushed by the hub (schemas/sed-push-1.wsdl). It verifies "
            "the hub's signature against --hub-cert, absorbs repeated MessageIds, and shows what it took "
            "at GET /_received (JSON). The contract is served at GET <path>?wsdl."
        ),
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on (0: any free one)")
    parser.add_argument("--hub-cert", type=Path, required=True, help="PEM certificate of the hub (pinned)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--path", default="/sed-push/v1", help="endpoint path (default /sed-push/v1)")
    parser.add_argument("--fail-first", type=int, default=0, metavar="K", help="fail the first K calls")
    parser.add_argument("--failure", choices=FAILURES, default="http-503", help="how to fail them")
    parser.add_argument("--retry-after", type=int, metavar="S", help="ask the hub to wait S seconds")
    parser.add_argument("--delay", type=float, default=0.0, metavar="S", help="answer each call S s late")
    parser.add_argument("--agency-code", help="refuse deliveries for any other agency (not-addressee)")
    parser.add_argument("--username", help="require this WS-Security UsernameToken user ...")
    parser.add_argument("--password", help="... with this password (PasswordText)")
    parser.add_argument(
        "--portal-trust-anchors", type=Path, help="PEM bundle to verify the portal's signature"
    )
    args = parser.parse_args(argv)
    anchors = args.portal_trust_anchors.read_bytes() if args.portal_trust_anchors else None
    edms = FakePushEdms(
        args.hub_cert.read_bytes(),
        host=args.host,
        port=args.port,
        path=args.path,
        agency_code=args.agency_code,
        username=args.username,
        password=args.password,
        fail_first=args.fail_first,
        failure=args.failure,
        retry_after=args.retry_after,
        delay=args.delay,
        portal_trust_anchors_pem=anchors,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with edms:
        print(f"fake EDMS push endpoint at {edms.url}", flush=True)
        print(f"  contract {edms.url}?wsdl, taken {edms.base_url}/_received", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


if __name__ == "__main__":
    main()
