"""RFC 9457 problem documents: every refusal is ``application/problem+json`` with a stable code.

Clients branch on ``code`` (the same vocabulary as SOAP faults); ``pointer`` names the field at
fault. The database away (a lost connection, no connection to be had) is ``503
service-unavailable`` with ``Retry-After``; other unexpected failures become a bare 500 problem
that leaks nothing of the request.
Refusals of agencies', portals' and operators' requests are recorded (the portal's intake records
its own, with more context).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import anyio
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import Scope

from gateway.adapters.db.outage import RETRY_AFTER_SECONDS, is_outage
from gateway.domain.errors import Code, Rejection
from gateway.faces.rest.request_log import CLIENT_ABORTED_STATUS, ClientAborted
from gateway.service import refusals

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:appeals-gateway:problem:"
INTERNAL_ERROR = "internal-error"
CLIENT_ABORTED = "client-aborted"  # never sent (the client is gone): the access line's status says it
# Calls that record their own refusals, as (method, path).
SELF_RECORDING = frozenset({("POST", "/portal/v1/appeals")})


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    detail: str
    pointer: str | None = None


def _validation_pointer(exc: ValidationException) -> str | None:
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("key"):
            # "records[3].at" → "/records/3/at": the pointers the domain's own refusals use
            return "/" + re.sub(r"\[([0-9]+)\]", r".\1", str(item["key"])).replace(".", "/")
    return None


def describe(exc: Exception) -> Problem:
    """The problem an exception stands for, the same for the response and for the record."""
    if isinstance(exc, Rejection):
        return Problem(exc.http_status, exc.code.value, exc.detail, exc.pointer)
    if isinstance(exc, ValidationException):
        return Problem(400, Code.INVALID_REQUEST.value, "the request is not valid", _validation_pointer(exc))
    if isinstance(exc, NotFoundException):
        return Problem(404, Code.NOT_FOUND.value, "no such resource")
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        code = {
            405: "method-not-allowed",
            413: Code.BODY_TOO_LARGE.value,
            415: Code.UNSUPPORTED_MEDIA_TYPE.value,
            429: Code.TOO_MANY_REQUESTS.value,
        }.get(exc.status_code, Code.INVALID_REQUEST.value)
        return Problem(exc.status_code, code, str(exc.detail))
    if isinstance(exc, ClientAborted):
        return Problem(CLIENT_ABORTED_STATUS, CLIENT_ABORTED, "the client closed the connection")
    if is_outage(exc):
        # Not "not applied": a commit whose answer was lost with the connection may have landed.
        detail = "the hub's database is unavailable for a moment; retry the request later"
        return Problem(503, Code.SERVICE_UNAVAILABLE.value, detail)
    return Problem(500, INTERNAL_ERROR, "the hub failed; the request was not applied")


def problem_response(p: Problem, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + p.code,
        "title": p.code.replace("-", " "),
        "status": p.status,
        "code": p.code,
        "detail": p.detail,
    }
    if p.pointer:
        body["pointer"] = p.pointer
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if p.status == 401 else None
    if p.status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return Response(body, status_code=p.status, media_type=PROBLEM_JSON, headers=headers)


def exception_handler(_: Request, exc: Exception) -> Response:
    p = describe(exc)
    if p.code == Code.SERVICE_UNAVAILABLE:
        log.warning("database unavailable: %s", type(exc).__name__)
    elif p.status >= 500:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    response = problem_response(p)
    if isinstance(exc, HTTPException) and exc.status_code < 500 and exc.headers:
        for name, value in exc.headers.items():  # e.g. a 429's Retry-After
            response.headers[name] = value
    return response


async def record_refusal(exc: Exception, scope: Scope) -> None:
    """``after_exception`` hook: keep a record of every client error outside the portal's intake."""
    p = describe(exc)
    path, method = scope.get("path", ""), scope.get("method", "")
    if p.status >= 500 or p.code == CLIENT_ABORTED or (method, path) in SELF_RECORDING:
        return
    hub = Litestar.from_scope(scope).state.get("hub")
    if hub is None:
        return
    face = path.strip("/").split("/", 1)[0] or "root"
    refusal = refusals.Refusal(face, method, path, p.status, p.code, p.pointer, p.detail)
    await anyio.to_thread.run_sync(refusals.record, hub, refusal)
