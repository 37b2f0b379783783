"""What clients get when the database is away, and what the hub makes of a client that hangs up.

A small Litestar app with the hub's exception handler, wrapped in its request log, as the hub's is;
the database errors are psycopg's own classes, as the driver and the pool raise them.
"""

from __future__ import annotations

from typing import Any

import anyio
import psycopg
import pytest
from litestar import Litestar, Request, get, post
from litestar.testing import TestClient
from lxml import etree
from prometheus_client import REGISTRY
from psycopg_pool import PoolTimeout

from gateway.domain.errors import Code, Rejection
from gateway.faces.rest.problems import describe, exception_handler, record_refusal
from gateway.faces.rest.request_log import RequestLog
from gateway.faces.soap import faults

OUTAGES = [
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    PoolTimeout("couldn't get a connection after 30.00 sec"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_a_database_outage_is_503_service_unavailable(exc):
    problem = describe(exc)
    assert (problem.status, problem.code) == (503, "service-unavailable")


def test_a_bug_is_still_a_bare_500_and_a_refusal_keeps_its_status():
    assert (describe(KeyError("x")).status, describe(KeyError("x")).code) == (500, "internal-error")
    assert describe(psycopg.errors.UniqueViolation("duplicate key")).status == 500
    assert describe(Rejection(Code.NOT_FOUND, "no such appeal")).status == 404


_raised: list[Exception] = []


@get("/sed/v1/statistics", sync_to_thread=True)
def statistics() -> dict[str, int]:
    raise _raised[0]


@post("/portal/v1/appeals")
async def push(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


def _app() -> Litestar:
    app = Litestar(
        [statistics, push],
        exception_handlers={Exception: exception_handler},
        after_exception=[record_refusal],
        logging_config=None,
    )
    app.asgi_handler = RequestLog(app.asgi_handler)
    return app


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_the_rest_face_answers_an_outage_with_a_problem_and_retry_after(log_lines, exc):
    _raised[:] = [exc]
    with TestClient(_app()) as client:
        response = client.get("/sed/v1/statistics")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "service-unavailable"
    lines = log_lines()
    assert [line["level"] for line in lines if line["level"] in ("error", "critical")] == []
    (warning,) = [line for line in lines if line["level"] == "warning"]
    assert warning["event"] == f"database unavailable: {type(exc).__name__}"
    assert [line["status"] for line in lines if line["event"] == "request"] == [503]


def test_the_soap_fault_for_an_outage_is_a_server_fault_with_the_same_code():
    fault = faults.element(faults.UNAVAILABLE_FAULT)
    ns = {"sed": "urn:appeals-gateway:sed:1"}
    assert fault.findtext("faultcode") == "soap:Server"
    assert fault.findtext("detail/sed:Error/sed:Code", namespaces=ns) == "service-unavailable"
    assert faults.HTTP_STATUS == 500  # SOAP 1.1 over HTTP: every fault is a 500 (WS-I R1126)
    assert etree.QName(fault).localname == "Fault"


# --- a client that hangs up mid-upload ----------------------------------------------------------


def _scope(path: str, length: int) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/xml"), (b"content-length", str(length).encode()),
                    (b"x-request-id", b"cut-off-1")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip


def _serve(app: Litestar, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one request through the ASGI app with ``messages`` as what the server receives."""
    incoming, sent = list(messages), []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, _scope("/portal/v1/appeals", 1000), receive, send)
    return sent


def _aborts() -> float:
    return REGISTRY.get_sample_value("appeals_gateway_client_aborts_total", {"face": "portal"}) or 0.0


def test_a_client_that_hangs_up_mid_body_is_logged_as_an_abort_not_an_error(log_lines):
    before = _aborts()
    _serve(_app(), [
        {"type": "http.request", "body": b"<a>" + b"x" * 300, "more_body": True},
        {"type": "http.disconnect"},
    ])  # fmt: skip
    lines = log_lines()
    assert [line for line in lines if line["level"] in ("warning", "error", "critical")] == []
    (aborted,) = [line for line in lines if line["event"] == "client aborted"]
    assert (aborted["level"], aborted["request_id"], aborted["received_bytes"]) == ("info", "cut-off-1", 303)
    (access,) = [line for line in lines if line["event"] == "request"]
    assert (access["status"], access["request_id"]) == (499, "cut-off-1")
    assert _aborts() == before + 1


def test_a_whole_body_is_no_abort(log_lines):
    before = _aborts()
    sent = _serve(_app(), [{"type": "http.request", "body": b"<a/>", "more_body": False}])
    assert sent[0]["status"] == 201
    assert [line["event"] for line in log_lines() if line["logger"].startswith("gateway")] == ["request"]
    assert _aborts() == before


def test_a_refusal_a_retry_may_clear_is_a_server_fault_and_a_clients_mistake_a_client_fault():
    away = faults.of_rejection(Rejection(Code.ANTIVIRUS_UNAVAILABLE, "scan later", "/answer"))
    wrong = faults.of_rejection(Rejection(Code.ATTACHMENT_INFECTED, "the antivirus found X", "/answer"))
    assert (away.faultcode, away.code) == (faults.FaultCode.SERVER, "antivirus-unavailable")
    assert (wrong.faultcode, wrong.code) == (faults.FaultCode.CLIENT, "attachment-infected")
