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

Writing happens off the thread that logs: a request thread (or the event loop) only runs the
cheap part — the level check, the bound context, the exception's objects — and puts the record
on a queue; one writer thread per process (:class:`_Writer`, a ``QueueListener``) renders it
(the processors above, JSON) and writes it. Profiles of the hub under load had the stream
handler's lock and the JSON rendering among the top frames of the request threads. One queue and
one writer keep the lines of each thread in the order it wrote them. The queue is bounded: a
process logging faster than its writer writes waits for it rather than dropping lines or growing
without limit. Nothing is lost on the way
out: the writer is drained at exit (``atexit``), before a fork the writer is held between two
lines (a child must not inherit a half-written line's locks), and a forked child that logs gets
a writer of its own. A process that leaves by ``os._exit`` (Celery's pool processes do) calls
:func:`flush` first.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import traceback
from datetime import UTC, datetime
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


def capture_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``exc_info=True`` (``log.exception``) means the exception being handled *now*, in this
    thread: take its objects here, as the line is written by another thread later."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def context_of_the_record(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A library's line carries the context bound where it was logged (``request_id``, …), which
    :class:`_QueueHandler` took with the record: the writer thread has a context of its own."""
    record = event_dict.get("_record")
    context = getattr(record, "gateway_context", None)
    if context is not None:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


def timestamp_of_the_record(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """When the line was logged (the record's creation, in the thread that logged it), not when
    the writer got to it; UTC, ISO 8601, as structlog's ``TimeStamper(fmt="iso", utc=True)``."""
    record = event_dict.get("_record")
    if record is not None:
        moment = datetime.fromtimestamp(record.created, UTC)
        event_dict["timestamp"] = moment.isoformat().replace("+00:00", "Z")
    return event_dict


def _bound_context() -> dict[str, Any]:
    """structlog's bound context vars of the calling thread (as ``merge_contextvars`` reads them)."""
    prefix = structlog.contextvars.STRUCTLOG_KEY_PREFIX
    return {
        var.name[len(prefix) :]: value
        for var, value in contextvars.copy_context().items()
        if var.name.startswith(prefix) and value is not Ellipsis
    }


class _QueueHandler(logging.handlers.QueueHandler):
    """Puts records on the writer's queue; renders nothing.

    No handler lock (the queue is thread-safe): many request threads logging at once never wait
    for each other here. A library's record gets its message resolved now (its arguments may
    change later) and the caller's bound context; structlog's records already carry both.
    """

    def __init__(self, writer: _Writer) -> None:
        super().__init__(writer.queue)
        self.writer = writer

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        self.writer.put(self.prepare(record))
        return True

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if isinstance(record.msg, dict):  # structlog's (``wrap_for_formatter``)
            return record
        record = logging.makeLogRecord(record.__dict__)  # other handlers (pytest's) see the original
        record.msg, record.args = record.getMessage(), None
        record.gateway_context = _bound_context()
        return record


class _Flush:
    """A marker on the queue: set once every record put before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _Writer(logging.handlers.QueueListener):
    """The one thread of a process that renders and writes log lines (see the module's docstring).

    Started on first use in the process that uses it: after a fork the child starts its own, with
    a fresh queue (the parent writes what was queued before the fork).
    """

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__(queue.Queue(MAX_QUEUED_LINES), handler, respect_handler_level=True)
        self.handler = handler
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def put(self, item: object) -> None:
        if self._stopped:  # at exit, after the drain: write in the caller's thread
            self.handle(item)
            return
        if self._pid != os.getpid():
            self._start_here()
        self.queue.put(item)  # blocks while the queue is full: the writer holds the loggers back

    def _start_here(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            if self._pid is not None:  # forked: the parent's queue and thread stay the parent's
                self.queue = queue.Queue(MAX_QUEUED_LINES)
                self._thread = None
            self._pid = os.getpid()
            self.start()
            self._thread.name = "log-writer"  # type: ignore[union-attr]

    def handle(self, record: object) -> None:
        if isinstance(record, _Flush):
            record.done.set()
            return
        super().handle(record)  # type: ignore[arg-type]

    def flush(self, timeout: float) -> None:
        if self._pid != os.getpid() or self._thread is None:
            return  # nothing was logged in this process yet
        marker = _Flush()
        self.queue.put(marker)
        marker.done.wait(timeout)

    def enqueue_sentinel(self) -> None:
        self.queue.put(self._sentinel)  # after what is queued, however full the queue is

    def stop(self) -> None:
        self._stopped = True
        if self._pid == os.getpid() and self._thread is not None:
            super().stop()  # writes what is queued, then the thread ends

    def forked(self) -> None:
        """In a forked child: a lock another thread of the parent held is free again."""
        self._lock = threading.Lock()


_writer: _Writer | None = None
FLUSH_TIMEOUT_SECONDS = 10.0
# Lines queued at most; past it a thread that logs waits for the writer (no line is dropped, and
# a process logging faster than it can write does not grow without bound).
MAX_QUEUED_LINES = 10_000


def flush(timeout: float = FLUSH_TIMEOUT_SECONDS) -> None:
    """Return once every line logged so far in this process is written (or after ``timeout``)."""
    if _writer is not None:
        _writer.flush(timeout)


def stop_writing() -> None:
    """Write what is queued and end the writer thread (at exit; before configuring again)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


def _hold_writer_for_fork() -> None:
    if _writer is not None:
        _writer.handler.acquire()  # between two lines: the stream's locks are free


def _release_writer_after_fork() -> None:
    if _writer is not None:
        _writer.handler.release()


def _writer_in_child() -> None:
    if _writer is not None:
        _writer.forked()


atexit.register(stop_writing)
# The child's handler lock is made new by logging's own after-fork hook; the parent releases it.
os.register_at_fork(
    before=_hold_writer_for_fork, after_in_parent=_release_writer_after_fork, after_in_child=_writer_in_child
)


def _renderer(fmt: str, stream: TextIO) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(ensure_ascii=False)


def configure_logging(settings: Settings | None = None, *, stream: TextIO | None = None) -> None:
    """Send every log record of this process to ``stream`` (stderr) as configured.

    Safe to call again (a Celery pool process does, after the fork; tests do with a stream of
    their own): the root logger gets one handler, the previous ones are removed, and the previous
    writer writes what it has and ends.
    """
    global _writer
    stop_writing()
    settings = settings or get_settings()
    stream = stream or sys.__stderr__ or sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level]
    # In the writer thread, for every line: each reads the record, made in the thread that logged.
    stamped: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamp_of_the_record,
    ]
    structlog.configure(
        processors=[  # in the thread that logs: only what must be read there
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            capture_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # not a library's `extra` fields: only its message, and the context it was logged in
            foreign_pre_chain=[context_of_the_record],
            processors=[
                *stamped,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                exception_without_message,
                without_query_strings,
                leading_keys,
                _renderer(settings.log_format, stream),
            ],
        )
    )
    _writer = _Writer(stream_handler)
    handler = _QueueHandler(_writer)
    # Also on the handler: a library that lowers its own logger's level (uvicorn's --log-level
    # trace prints every ASGI message, query strings included) still stops here.
    handler.setLevel(level)
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
