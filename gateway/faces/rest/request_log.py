"""A request id for every HTTP request, and one access line when its response is sent.

The id (the caller's ``X-Request-Id`` when it is a sane token, else a new UUID) is bound into
structlog's context before anything runs, so every line the request causes carries it, the
service layer's lines in worker threads included (anyio copies the context into them); the
response returns it in ``X-Request-Id``.

The access line names the route's path template (``/sed/v1/appeals/{appeal_id}/events``), never
the query string (the public status lookup carries a registration number and an access code
there), and the appeal and the authenticated caller (an agency code, a portal sender id, an
operator's token prefix: ids, not personal data) when the request named them, and the ``pid`` of
the worker process that served it (which of ``serve --workers N`` got the connection). uvicorn's own access
log is switched off (``gateway.adapters.logs``): it would print the query.

It wraps Litestar's whole ASGI handler, outside routing, because Litestar's middleware runs only
for requests that matched a route: an unknown path or a wrong method must get its id too.

It also watches the request body arrive: a client that hangs up before its body is whole (a push
cut off in the middle of a large attachment) makes reading the body raise :class:`ClientAborted`
instead of Litestar's 500 "client disconnected prematurely". Such a request is one ``client
aborted`` line at INFO, an access line with status 499 (nginx's "client closed request"), and a
count in ``appeals_gateway_client_aborts_total``: the client's doing, not an error of the hub.
Nothing of it reaches the database, as every face reads the whole body before it calls the
service layer.
"""

from __future__ import annotations

import os
import re
import time
from contextvars import ContextVar
from uuid import uuid4

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.adapters import metrics

log = structlog.get_logger("gateway.access")

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MAX_LOGGED_PATH = 200
_FACES = frozenset({"portal", "sed", "ops", "public", "health", "metrics", "schema"})
# Probes and scrapes come every few seconds: their access lines are DEBUG.
_PROBES = frozenset({"health", "metrics"})
# The status an aborted request is logged with; the client is gone and gets no response.
CLIENT_ABORTED_STATUS = 499
# What the handler learnt that the access line should name; one dict per request, shared by
# reference with the worker threads the handler runs in.
_facts: ContextVar[dict[str, str] | None] = ContextVar("gateway_request_facts", default=None)


def note(**facts: str) -> None:
    """Name ``facts`` (``caller``, ``operation``) in the current request's access line."""
    current = _facts.get()
    if current is not None:
        current.update(facts)


def face_of(path: str) -> str:
    """Which face a path belongs to: portal, sed, soap, ops, public, health, metrics, schema, other."""
    if path.startswith("/sed/soap/"):
        return "soap"
    first = path.strip("/").split("/", 1)[0]
    return first if first in _FACES else "other"


def request_id(scope: Scope) -> str:
    """The caller's id for the request if it is a short token of safe characters, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return str(uuid4())


class ClientAborted(Exception):
    """The client closed the connection before its request body was whole."""


class _BodyWatch:
    """The ``receive`` the application gets: raises :class:`ClientAborted` on a disconnect that
    comes before the last chunk of the body (a disconnect after it is no abort of an upload)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.pending = True
        self.received = 0
        self.aborted = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.pending = bool(message.get("more_body", False))
        elif message["type"] == "http.disconnect" and self.pending:
            self.aborted = True
            raise ClientAborted("the client closed the connection before its request body was whole")
        return message


class RequestLog:
    """ASGI wrapper: binds the request id, adds it to the response, writes the access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode("ascii"))]
            await send(message)

        facts: dict[str, str] = {}
        token = _facts.set(facts)
        started = time.perf_counter()
        path, face = scope["path"], face_of(scope["path"])
        body = _BodyWatch(receive)
        try:
            with structlog.contextvars.bound_contextvars(request_id=rid, face=face):
                try:
                    await self.app(scope, body, send_with_id)
                finally:
                    if body.aborted:
                        status = CLIENT_ABORTED_STATUS
                        metrics.client_aborted(face)
                        log.info("client aborted", method=scope["method"], received_bytes=body.received)
                    if status is not None and status != CLIENT_ABORTED_STATUS:
                        metrics.http_request(
                            face, scope.get("path_template"), scope["method"], status,
                            time.perf_counter() - started,
                        )  # fmt: skip
                    appeal_id = scope.get("path_params", {}).get("appeal_id")
                    (log.debug if face in _PROBES else log.info)(
                        "request",
                        method=scope["method"],
                        path=scope.get("path_template") or path[:MAX_LOGGED_PATH],
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                        pid=os.getpid(),
                        **({"appeal_id": str(appeal_id)} if appeal_id else {}),
                        **facts,
                    )
        finally:
            _facts.reset(token)
