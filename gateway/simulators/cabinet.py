"""A fake citizen's cabinet: the portal's end of the cabinet callback, on a real socket.

It serves both variants of one version of ``schemas/cabinet-callback-{2,1}.*`` (REST
``PUT /appeals/{id}/updates/{seq}``, SOAP ``POST /soap``), refuses what the real one must refuse
(a bad Content-Digest: 400, a bad or foreign signature: 401, a body off the contract: 422 or a
Client fault), absorbs repeats of an Idempotency-Key (the first answer again, counted as a
duplicate), and keeps every update it took per appeal, the current state being the update with
the highest seq: an older one arriving late goes to history and never moves the state back
(FixMyStreet's rule).

It can be told to fail its next calls (e.g. 503 with Retry-After) and to answer slowly. Tests use
it in-process (:class:`FakeCabinet`) or as a process (``python -m gateway.simulators.cabinet``,
state at ``GET /_state/{appeal_id}``). A plain ``ThreadingHTTPServer``: no event loop to share
with the code under test, and a slow answer blocks only its own thread.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509

from gateway.simulators import cabinet_wire as wire

SOAP_PATH = "/soap"
STATE_PATH = "/_state"
MAX_BODY = 64 * 1024 * 1024
_UPDATE_PATH = re.compile(r"/appeals/([0-9a-f-]{36})/updates/([0-9]{1,18})")


@dataclass(frozen=True)
class Received:
    """One update as the cabinet took it: ``outcome`` is applied (it became current) or stale."""

    update: dict[str, Any]
    via: str  # rest | soap
    outcome: str
    received_at: str


@dataclass(frozen=True)
class CapturedRequest:
    """A callback request exactly as it arrived (for tests that verify it independently)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Failure:
    status: int
    retry_after: float | None
    code: str


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class FakeCabinet:
    """The cabinet, pinned to the hub's certificate; ``start()`` it, or use it as a context manager.

    ``fail_first`` calls are answered ``fail_status`` (503 by default) with ``retry_after`` when
    given; ``delay`` seconds pass before every callback is answered.
    """

    def __init__(
        self,
        hub_cert_pem: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_first: int = 0,
        fail_status: int = 503,
        retry_after: float | None = None,
        delay: float = 0.0,
        contract: int = 2,
    ) -> None:
        self.contract = wire.Contract(contract)
        self._rest = wire.RestVerifier(hub_cert_pem, self.contract)
        self._hub_certificate = x509.load_pem_x509_certificate(hub_cert_pem)
        self._lock = threading.Lock()
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._delay = delay
        self._failures: deque[_Failure] = deque()
        self._received: dict[str, list[Received]] = {}
        self._answers: dict[tuple[str, str], tuple[str, _Answer]] = {}
        self._captured: deque[CapturedRequest] = deque(maxlen=100)
        self.calls = 0
        self.duplicates = 0
        self.refusals: list[tuple[int, str]] = []
        if fail_first:
            self.fail_next(fail_first, status=fail_status, retry_after=retry_after)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> FakeCabinet:
        handler = type("Handler", (_Handler,), {"cabinet": self})
        self._server = _Server(self._address, handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-cabinet", daemon=True
        )  # a short poll interval: stop() returns at once, not after half a second
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeCabinet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The REST base URL (the callback is ``{url}/appeals/{appeal_id}/updates/{seq}``)."""
        assert self._server is not None, "start() the cabinet first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def soap_url(self) -> str:
        return self.url + SOAP_PATH

    # --- behaviour ----------------------------------------------------------------------------

    def fail_next(
        self, count: int, *, status: int = 503, retry_after: float | None = None, code: str | None = None
    ) -> None:
        """Answer the next ``count`` callbacks with ``status`` (and Retry-After), before any checks."""
        default = "unavailable" if status in (429, 503) else "internal-error" if status >= 500 else "refused"
        failure = _Failure(status, retry_after, code or default)
        with self._lock:
            self._failures.extend(failure for _ in range(count))

    def set_delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each callback (a slow cabinet)."""
        self._delay = seconds

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._received.clear()
            self._answers.clear()
            self._captured.clear()
            self.calls = self.duplicates = 0
            self.refusals = []
            self._delay = 0.0

    # --- what it holds ------------------------------------------------------------------------

    def history(self, appeal_id: object) -> list[Received]:
        """Every update taken for the appeal, in arrival order, stale ones included."""
        with self._lock:
            return list(self._received.get(str(appeal_id), ()))

    def current(self, appeal_id: object) -> dict[str, Any] | None:
        """The appeal's current update: the one with the highest seq taken so far."""
        history = self.history(appeal_id)
        return max(history, key=lambda r: r.update["seq"]).update if history else None

    def state(self, appeal_id: object) -> dict[str, Any]:
        """What ``GET /_state/{appeal_id}`` answers: the current state and seq, what the applicant
        is shown, and the history."""
        history, current = self.history(appeal_id), self.current(appeal_id)
        return {
            "appeal_id": str(appeal_id),
            "state": current["state"] if current else None,
            "seq": current["seq"] if current else None,
            "current": current,
            "shown": self.shown(appeal_id),
            "history": [asdict(r) for r in history],
        }

    def shown(self, appeal_id: object) -> dict[str, Any] | None:
        """What the cabinet shows the applicant, read from the current update alone (contract 2:
        it is self-contained, so stale updates are not needed): the registration number and access
        code for the lookup, where the appeal is, and whether it is answered. Under contract 1 the
        current update alone may lack the number and the code: the flaw version 2 removes."""
        current = self.current(appeal_id)
        if current is None:
            return None
        appeal = current.get("appeal") or {}
        registrations = appeal.get("registrations") or []
        first = registrations[0] if registrations else None
        if first is None and current["type"] == "registered":  # contract 1: this update's own facts
            first = {"registration_number": current["details"].get("registration_number")}
        return {
            "state": current["state"],
            "agency": (appeal.get("agency") or {}).get("code"),
            "registration_number": first["registration_number"] if first else None,
            "access_code": current.get("access_code"),
            "answered": "answer" in current,
        }

    def answer_document(self, appeal_id: object) -> bytes | None:
        """The signed answer document the cabinet received for the appeal, decoded."""
        for received in reversed(self.history(appeal_id)):
            if "answer" in received.update:
                return base64.b64decode(received.update["answer"]["document"])
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self.calls, "duplicates": self.duplicates, "refusals": list(self.refusals)}

    @property
    def requests(self) -> list[CapturedRequest]:
        """The last 100 callback requests as they arrived, oldest first."""
        with self._lock:
            return list(self._captured)

    # --- handling -----------------------------------------------------------------------------

    def _callback(self, via: str, request: CapturedRequest, path: str) -> _Answer:
        with self._lock:
            self.calls += 1
            self._captured.append(request)
            failure = self._failures.popleft() if self._failures else None
        if self._delay:
            time.sleep(self._delay)
        if failure is not None:
            return _failed(via, failure, self.contract)
        try:
            if via == "rest":
                return self._rest_update(request, path)
            return self._soap_update(request)
        except wire.Refusal as refusal:
            with self._lock:
                self.refusals.append((refusal.status, refusal.code))
            if via == "rest":
                body = wire.problem(refusal.status, refusal.code, refusal.detail, refusal.pointer)
                return _Answer(refusal.status, "application/problem+json", body)
            fault = wire.fault("Client", refusal.code, refusal.detail, self.contract)
            return _Answer(500, "text/xml; charset=utf-8", fault)
        except Exception:  # the fake's own bug: answer as a failing server would, and show it
            traceback.print_exc()
            return _failed(via, _Failure(500, None, "internal-error"), self.contract)

    def _rest_update(self, request: CapturedRequest, path: str) -> _Answer:
        match = _UPDATE_PATH.fullmatch(path)
        if match is None:
            raise wire.Refusal(404, "not-found", "no such resource")
        keys = [v for n, v in request.headers if n.lower() == "idempotency-key"]
        if len(keys) != 1:
            raise wire.Refusal(400, "idempotency-key-missing", "one Idempotency-Key header is required")
        self._rest.verify(request.method, request.url, request.headers, request.body)
        update = wire.read_rest_update(request.body, match[1], int(match[2]), self.contract)
        return self._accept("rest", keys[0], hashlib.sha256(request.body).hexdigest(), update)

    def _soap_update(self, request: CapturedRequest) -> _Answer:
        received = wire.read_soap_update(request.body, self._hub_certificate, self.contract)
        return self._accept("soap", received.idempotency_key, received.digest, received.update)

    def _accept(self, via: str, key: str, digest: str, update: dict[str, Any]) -> _Answer:
        """Take a verified update once per key; a repeat gets the first answer (one lock: no races)."""
        with self._lock:
            earlier = self._answers.get((via, key))
            if earlier is not None:
                if earlier[0] != digest:
                    raise wire.Refusal(
                        422, "idempotency-key-reused", "this Idempotency-Key came with another update"
                    )
                self.duplicates += 1
                return earlier[1]
            history = self._received.setdefault(update["appeal_id"], [])
            newest = max((r.update["seq"] for r in history), default=0)
            outcome = "applied" if update["seq"] > newest else "stale"  # never back to an older state
            history.append(Received(update, via, outcome, datetime.now(UTC).isoformat()))
            answer = _answer(via, update, outcome, self.contract)
            self._answers[(via, key)] = (digest, answer)
            return answer


def _answer(via: str, update: dict[str, Any], outcome: str, contract: wire.Contract) -> _Answer:
    """REST: 201, or 409 stale-update (delivered all the same); SOAP: Accepted with the outcome."""
    appeal_id, seq = update["appeal_id"], update["seq"]
    if via == "soap":
        return _Answer(200, "text/xml; charset=utf-8", wire.accepted(appeal_id, seq, outcome, contract))
    if outcome == "applied":
        body = json.dumps({"appeal_id": appeal_id, "seq": seq, "outcome": outcome}).encode()
        return _Answer(201, "application/json", body)
    detail = "the cabinet already has this seq or a higher one for the appeal"
    return _Answer(409, "application/problem+json", wire.problem(409, "stale-update", detail))


def _failed(via: str, failure: _Failure, contract: wire.Contract) -> _Answer:
    """A scripted failure as the variant answers it: REST a problem document; SOAP a Fault (or,
    for 408, 429 and 503, the bare status a proxy or an overloaded server gives)."""
    wait = failure.retry_after
    headers = (("Retry-After", str(math.ceil(wait))),) if wait is not None else ()  # delay-seconds: whole
    detail = "scripted failure"
    if via == "rest":
        body = wire.problem(failure.status, failure.code, detail)
        return _Answer(failure.status, "application/problem+json", body, headers)
    bare = failure.status in (408, 429, 503)
    side = "Server" if bare or failure.status >= 500 else "Client"
    status = failure.status if bare else 500
    return _Answer(
        status, "text/xml; charset=utf-8", wire.fault(side, failure.code, detail, contract), headers
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow answer still sleeping must not hold up stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timed-out connector) is expected here; anything else is shown."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    cabinet: FakeCabinet
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and the connectors' pools expect
    # Headers and body leave in two writes; with Nagle's algorithm on, the second waits for the
    # client's delayed ACK (40 ms on Linux), which the roundtrip bench measured as the cabinet's.
    disable_nagle_algorithm = True

    def do_PUT(self) -> None:
        if not self.path.startswith("/appeals/"):
            self._send(
                _Answer(404, "application/problem+json", wire.problem(404, "not-found", "no such resource"))
            )
            return
        self._callback("rest")

    def do_POST(self) -> None:
        if self.path.split("?")[0] != SOAP_PATH:
            self._send(
                _Answer(404, "application/problem+json", wire.problem(404, "not-found", "no such resource"))
            )
            return
        self._callback("soap")

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == STATE_PATH:
            body = self.cabinet.stats()
        elif path.startswith(STATE_PATH + "/"):
            body = self.cabinet.state(path[len(STATE_PATH) + 1 :])
        else:
            self._send(
                _Answer(404, "application/problem+json", wire.problem(404, "not-found", "no such resource"))
            )
            return
        self._send(_Answer(200, "application/json", json.dumps(body, ensure_ascii=False).encode()))

    def _callback(self, via: str) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(_Answer(411, "application/problem+json", wire.problem(411, "length-required", "")))
            return
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._send(_Answer(413, "application/problem+json", wire.problem(413, "body-too-large", "")))
            return
        body = self.rfile.read(int(length))
        host = self.headers.get("Host")
        if not host:  # HTTP/1.1 requires it, and @target-uri is built from it
            self._send(_Answer(400, "application/problem+json", wire.problem(400, "host-missing", "")))
            return
        request = CapturedRequest(self.command, f"http://{host}{self.path}", list(self.headers.items()), body)
        self._send(self.cabinet._callback(via, request, self.path.split("?")[0]))

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines are not worth the noise, and bodies are never logged."""


# --- standalone ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulators.cabinet",
        description=(
            "A fake citizen's cabinet: serves the cabinet callback (REST PUT /appeals/{id}/updates/{seq} "
            "and SOAP POST /soap), verifies the hub's signature against --hub-cert, and shows what it "
            "holds at GET /_state/{appeal_id} (GET /_state: call counts). Prints one line with its URL "
            "once it listens, then serves until interrupted."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--hub-cert", required=True, metavar="PATH", help="PEM of the hub's certificate (pinned)"
    )
    parser.add_argument(
        "--contract", type=int, choices=wire.VERSIONS, default=2, help="callback contract version (2)"
    )
    parser.add_argument("--fail-first", type=int, default=0, metavar="K", help="fail the first K callbacks")
    parser.add_argument(
        "--fail-status", type=int, default=503, metavar="STATUS", help="status of those failures (503)"
    )
    parser.add_argument(
        "--retry-after", type=float, default=None, metavar="S", help="Retry-After on failures"
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, metavar="S", help="wait S seconds before answering"
    )
    args = parser.parse_args(argv)
    with open(args.hub_cert, "rb") as file:
        hub_cert = file.read()
    cabinet = FakeCabinet(
        hub_cert,
        host=args.host,
        port=args.port,
        fail_first=args.fail_first,
        fail_status=args.fail_status,
        retry_after=args.retry_after,
        delay=args.delay,
        contract=args.contract,
    ).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"fake cabinet listening on {cabinet.url} (SOAP: {cabinet.soap_url})", flush=True)
    stop.wait()
    cabinet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
