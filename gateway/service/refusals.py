"""Refused requests are recorded, so an operator can see which agency keeps sending what wrong."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from gateway.adapters.db import refusals as refusals_db
from gateway.domain.text import scrubbed
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Refusal:
    face: str
    method: str
    path: str
    status: int
    code: str
    pointer: str | None
    detail: str


def record(hub: Hub, refusal: Refusal) -> None:
    """Best effort, in its own transaction: failing to record must not turn a 4xx into a 500."""
    try:
        with hub.pool.connection() as conn:
            # The path is the client's (a refused one may hold a NUL): stored scrubbed, not lost.
            refusals_db.insert(
                conn, refusal.face, refusal.method, scrubbed(refusal.path), refusal.status,
                refusal.code, refusal.pointer and scrubbed(refusal.pointer), scrubbed(refusal.detail),
            )  # fmt: skip
    except Exception:
        log.exception("could not record a refused request", code=refusal.code)
    log.info("request refused", code=refusal.code, pointer=refusal.pointer, status=refusal.status)
