"""RFC 9457 problem documents: every refusal is ``application/problem+json`` with a stable code.

Clients branch on ``code`` (the same vocabulary as SOAP faults); ``pointer`` names the field at
fault. Unexpected failures become a bare 500 problem that leaks nothing of the request.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from gateway.domain.errors import Code, Rejection

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:appeals-gateway:problem:"


def problem(status: int, code: str, detail: str, pointer: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("-", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if pointer:
        body["pointer"] = pointer
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def rejection_handler(_: Request, exc: Rejection) -> Response:
    return problem(exc.http_status, exc.code.value, exc.detail, exc.pointer)


def _validation_pointer(exc: ValidationException) -> str | None:
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("key"):
            return "/" + str(item["key"]).replace(".", "/")
    return None


def http_exception_handler(_: Request, exc: HTTPException) -> Response:
    if isinstance(exc, ValidationException):
        return problem(400, Code.INVALID_REQUEST.value, "the request is not valid", _validation_pointer(exc))
    if isinstance(exc, NotFoundException):
        return problem(404, Code.NOT_FOUND.value, "no such resource")
    status = exc.status_code
    if status >= 500:
        log.error("server error %s: %s", status, exc.detail)
        return problem(status, "internal-error", "the hub failed; the request was not applied")
    code = {
        405: "method-not-allowed",
        413: Code.BODY_TOO_LARGE.value,
        415: Code.UNSUPPORTED_MEDIA_TYPE.value,
    }.get(status, Code.INVALID_REQUEST.value)
    return problem(status, code, str(exc.detail))


def internal_error_handler(_: Request, exc: Exception) -> Response:
    log.exception("unhandled %s", type(exc).__name__)
    return problem(500, "internal-error", "the hub failed; the request was not applied")
