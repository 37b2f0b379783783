"""The processor chain every process logs through: JSON lines with time, level, logger, event and
the bound ids; query strings cut; exceptions without their messages; noisy libraries held back."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from gateway.adapters.logs import REDACTED_QUERY, configure_logging, flush, without_query_strings
from gateway.config import Settings

SECRET = "Petrova-Anna-secret-7731"


def test_a_line_is_one_json_object_with_time_level_logger_event_and_the_bound_ids(log_lines):
    with structlog.contextvars.bound_contextvars(request_id="req-1", face="sed"):
        structlog.get_logger("gateway.service.test").info("mailbox leased", agency="ADM-1", count=2, x=None)
    [line] = log_lines()
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
    assert line["timestamp"].endswith("Z") and line["timestamp"][10] == "T"  # ISO 8601, UTC
    assert line == {
        "timestamp": line["timestamp"],
        "level": "info",
        "logger": "gateway.service.test",
        "event": "mailbox leased",
        "request_id": "req-1",
        "face": "sed",
        "agency": "ADM-1",
        "count": 2,
    }


def test_a_librarys_line_through_the_standard_library_comes_out_the_same(log_lines):
    with structlog.contextvars.bound_contextvars(request_id="req-2"):
        logging.getLogger("celery.worker.strategy").info(
            "Task %s[%s] received", "gateway.deliver", "outbox-1-1"
        )
        logging.getLogger("some.library").info("with extras", extra={"applicant": SECRET})
    received, extras = log_lines()
    assert (received["logger"], received["level"], received["request_id"]) == (
        "celery.worker.strategy",
        "info",
        "req-2",
    )
    assert received["event"] == "Task gateway.deliver[outbox-1-1] received"
    assert "applicant" not in extras  # a library's extra fields are not copied into the line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '127.0.0.1:5000 - "GET /public/v1/status?number=OG-1&code=K7Q2 HTTP/1.1" 200',
            f'127.0.0.1:5000 - "GET /public/v1/status{REDACTED_QUERY} HTTP/1.1" 200',
        ),
        (
            "HTTP Request: PUT https://cabinet.example/appeals/1/updates/2?token=abc",
            f"HTTP Request: PUT https://cabinet.example/appeals/1/updates/2{REDACTED_QUERY}",
        ),
        ("GET /sed/soap/v1?wsdl", f"GET /sed/soap/v1{REDACTED_QUERY}"),
        ("no path here? none", "no path here? none"),
        ("/health/ready answered 503", "/health/ready answered 503"),
    ],
)
def test_query_strings_are_cut_from_every_path_and_url(text, expected):
    assert without_query_strings(None, "info", {"event": text, "url": text}) == {
        "event": expected,
        "url": expected,
    }


def _fail() -> None:
    try:
        raise KeyError(SECRET)
    except KeyError as exc:
        raise ValueError(f"could not parse {SECRET}") from exc


@pytest.mark.parametrize("writer", ["structlog", "stdlib"])
def test_an_exception_is_logged_as_its_class_and_stack_never_its_message(log_lines, writer):
    try:
        _fail()
    except ValueError:
        if writer == "structlog":
            structlog.get_logger("gateway.test").exception("delivery failed unexpectedly", outbox_id=7)
        else:
            logging.getLogger("some.library").exception("failed on %s", "a request")
    [line] = log_lines()
    assert SECRET not in str(line)
    assert line["level"] == "error"
    assert line["exception"]["type"] == "ValueError"
    assert line["exception"]["caused_by"] == ["KeyError"]
    assert any(frame.endswith(" _fail") for frame in line["exception"]["stack"])
    assert "exc_info" not in line


def test_uvicorns_access_log_is_off_and_body_dumping_libraries_stay_quiet_even_at_debug(log_lines):
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/1.1" 200', "1.2.3.4", "GET", "/x?code=1")
    logging.getLogger("zeep.transports").debug("HTTP Post to %s:\n%s", "http://edms", SECRET)
    logging.getLogger("httpcore.http11").debug("send_request_body.started %s", SECRET)
    logging.getLogger("uvicorn.error").setLevel(5)  # uvicorn --log-level trace
    logging.getLogger("uvicorn.error").log(5, "ASGI [1] Receive %s", SECRET)
    logging.getLogger("uvicorn.error").setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    assert [line["event"] for line in log_lines()] == ["Application startup complete."]


def test_a_logger_that_neither_propagates_nor_has_a_handler_still_writes_json(log_lines):
    billiard = logging.getLogger("multiprocessing")  # as Celery's pool leaves it
    billiard.propagate = False
    try:
        billiard.error("Process %r pid:%r exited with %r", "ForkPoolWorker-1", 7, "signal 15 (SIGTERM)")
    finally:
        billiard.propagate = True
    [line] = log_lines()
    assert (line["logger"], line["level"]) == ("multiprocessing", "error")


def test_the_console_format_is_for_people(restore_logging):
    buffer = io.StringIO()
    configure_logging(Settings(log_format="console", log_level="info"), stream=buffer)
    structlog.get_logger("gateway.test").info("appeal accepted", appeal_id="a-1")
    flush()  # the writer thread writes it
    text = buffer.getvalue()
    assert "appeal accepted" in text and "appeal_id=a-1" in text and not text.startswith("{")


def test_the_level_and_format_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "warning")
    monkeypatch.setenv("GATEWAY_LOG_FORMAT", "console")
    assert (Settings().log_level, Settings().log_format) == ("WARNING", "console")
