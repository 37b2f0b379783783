"""The logs of every hub process: one JSON object per line on stderr, with no personal data.

Every process (the hub under uvicorn, the delivery workers and relay, CLI commands) calls
:func:`configure_logging` once; it routes the standard library's ``logging`` — uvicorn, Celery,
kombu, httpx, zeep, psycopg — through structlog's ``ProcessorFormatter``, so a line written by a
library looks like one written by the hub: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``,
``event`` and whatever context is bound (``request_id``, ``appeal_id``, …).

The hub logs ids, codes and counts, never an appeal's content. What it does not write itself is
guarded here:

* query strings are cut from anything that looks like a path or URL (the public status lookup
  carries a registration number and a secret access code in its query), and uvicorn's access log,
  which prints them, is off;
* an exception is logged as its class and its stack (file, line, function), never its message:
  parsers, drivers and remote systems put the input they choke on into their messages;
* a library's ``extra`` fields are not copied into its lines, only its message;
* libraries that dump whole documents at DEBUG (signxml, zeep, httpcore, urllib3, hpack) are held
  at WARNING whatever the configured level is.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, Processor, WrappedLogger

from gateway.config import Settings, get_settings

# Never below WARNING: libraries whose DEBUG lines carry message bodies or headers (signxml logs
# every signed element it canonicalises: a whole appeal; zeep every SOAP message), and httpx, whose
# INFO line per call repeats the delivery line.
QUIET_LIBRARIES = (
    "signxml", "zeep", "httpcore", "httpx", "urllib3", "hpack", "multipart", "python_multipart",
    "smpplib",  # its DEBUG lines show each PDU in hex: the applicant's number and text
)  # fmt: skip
# Above INFO unless asked for DEBUG: the embedded PostgreSQL's and the migration tool's step-by-step
# lines say nothing an operator acts on (``serve`` reports the migrations it applied).
CHATTY_LIBRARIES = ("pgserver", "yoyo")
# uvicorn's access line carries the query string: the hub writes its own (gateway.faces.rest.request_log).
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
MAX_FRAMES = 20
LEADING_KEYS = ("timestamp", "level", "logger", "event")
REDACTED_QUERY = "?<query dropped>"
# A path (absolute, or after a URL's scheme and host) followed by a query: keep the path only.
_QUERY = re.compile(r"((?:\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#\"'<>]*)?/[^\s?#\"'<>]*)\?[^\s#\"'<>]+")


def without_query_strings(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Cut the query from every path or URL in the event's string values."""
    for key, value in event_dict.items():
        if isinstance(value, str) and "?" in value:
            event_dict[key] = _QUERY.sub(r"\1" + REDACTED_QUERY, value)
    return event_dict


def _exc_info(value: Any) -> ExcInfo | None:
    if value is True:
        value = sys.exc_info()
    elif isinstance(value, BaseException):
        value = (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and value[0] is not None:
        return value
    return None


def _class_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _frames(tb: TracebackType | None) -> list[str]:
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)[-MAX_FRAMES:]]


def exception_without_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace ``exc_info`` by ``exception``: the class, the classes it was raised from, the stack.

    No message and no local variables: either may hold the input that caused the failure.
    """
    event_dict.pop("stack_info", None)
    info = _exc_info(event_dict.pop("exc_info", None))
    if info is None:
        return event_dict
    exc = info[1]
    causes = []
    seen = exc.__cause__ or exc.__context__
    while seen is not None and len(causes) < MAX_FRAMES:
        causes.append(_class_name(seen))
        seen = seen.__cause__ or seen.__context__
    event_dict["exception"] = {
        "type": _class_name(exc),
        **({"caused_by": causes} if causes else {}),
        "stack": _frames(info[2]),
    }
    return event_dict


def leading_keys(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``timestamp``, ``level``, ``logger`` and ``event`` first, the context after, and no key
    whose value is unknown (``None``): a line reads the same way whoever wrote it."""
    lead = {k: event_dict.pop(k) for k in LEADING_KEYS if k in event_dict}
    return {**lead, **{k: v for k, v in event_dict.items() if v is not None}}


def _renderer(fmt: str, stream: TextIO) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def configure_logging(settings: Settings | None = None, *, stream: TextIO | None = None) -> None:
    """Send every log record of this process to ``stream`` (stderr) as configured.

    Safe to call again (a Celery pool process does, after the fork; tests do with a stream of
    their own): the root logger gets one handler, the previous ones are removed.
    """
    settings = settings or get_settings()
    stream = stream or sys.__stderr__ or sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    # Also on the handler: a library that lowers its own logger's level (uvicorn's --log-level
    # trace prints every ASGI message, query strings included) still stops here.
    handler.setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,  # not a library's `extra` fields: only its message
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                exception_without_message,
                without_query_strings,
                leading_keys,
                _renderer(settings.log_format, stream),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # A logger that does not propagate and has no handler (billiard's, in Celery's pool) would
    # print its bare message to stderr through this: it writes JSON like the rest.
    logging.lastResort = handler
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.captureWarnings(True)
