"""Answers no honest EDMS gives but real networks do (proxies, load balancers, half-deployed
endpoints), from a canned HTTP server on a real socket: each one classified for the retry policy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.http_outcome import retry_after_seconds
from gateway.domain.delivery import DeliveryError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:appeals-gateway:sed-push:1"


class _Canned(BaseHTTPRequestHandler):
    answer: tuple[int, dict[str, str], bytes] = (200, {}, b"")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _accepted(message_id: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><p:DeliveryAccepted xmlns:p="{NS}">'
        f"<p:MessageId>{message_id}</p:MessageId><p:ReceiptId>R-1</p:ReceiptId>"
        "</p:DeliveryAccepted></soap:Body></soap:Envelope>"
    ).encode()


HTML = {"Content-Type": "text/html"}
XML = {"Content-Type": "text/xml; charset=utf-8"}
SOON = "in 90 seconds, as an HTTP-date"  # written when the test runs


@pytest.mark.parametrize(
    ("status", "headers", "body", "permanent", "retry_after"),
    [
        (500, HTML, b"<html>proxy error</html>", False, None),
        (502, HTML, b"bad gateway", False, None),
        (429, {"Retry-After": "30"}, b"", False, 30),
        (503, {"Retry-After": SOON}, b"", False, "about 90"),
        (200, HTML, b"<html>maintenance</html>", False, None),
        (401, {}, b"", True, None),
        (403, {}, b"", True, None),
        (301, {"Location": "http://elsewhere.example/"}, b"", True, None),
        (
            200,
            XML,
            b"<soap:Envelope xmlns:soap='" + SOAP_ENV.encode() + b"'><soap:Body/></soap:Envelope>",
            True,
            None,
        ),
    ],
    ids=["500-html", "502", "429", "503-http-date", "200-html", "401", "403", "301", "200-empty-body"],
)
def test_an_answer_is_classified(
    canned, connect, make_message, status, headers, body, permanent, retry_after
):
    if headers.get("Retry-After") == SOON:
        headers = {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)}
    canned.answer = (status, headers, body)
    host, port = canned.server_address[:2]
    with pytest.raises(DeliveryError) as caught:
        connect(f"http://{host}:{port}/push").deliver(make_message())
    assert caught.value.permanent is permanent
    if retry_after == "about 90":
        assert 80 <= caught.value.retry_after <= 90
    else:
        assert caught.value.retry_after == retry_after


def test_a_receipt_for_another_message_is_permanent(canned, connect, make_message):
    canned.answer = (200, XML, _accepted("00000000-0000-4000-8000-00000000dead"))
    host, port = canned.server_address[:2]
    with pytest.raises(DeliveryError) as caught:
        connect(f"http://{host}:{port}/push").deliver(make_message())
    assert caught.value.permanent
    assert "another message" in caught.value.reason


def test_a_receipt_for_this_message_is_delivered(canned, connect, make_message):
    message = make_message()
    canned.answer = (200, XML, _accepted(message.payload["message_id"].upper()))
    host, port = canned.server_address[:2]
    receipt = connect(f"http://{host}:{port}/push").send(message)
    assert receipt.receipt_id == "R-1"
    assert receipt.duplicate is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("120", 120.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(value, expected):
    assert retry_after_seconds(value) == expected
