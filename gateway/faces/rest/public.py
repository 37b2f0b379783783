"""The public face: anyone with a registration number and its access code sees the appeal's status."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import anyio
from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Parameter
from litestar.stores.memory import MemoryStore

from gateway.faces.rest import contract
from gateway.service import status
from gateway.service.hub import Hub

STORE = "status_lookups"


class SweptMemoryStore(MemoryStore):
    """Litestar's memory store drops an expired entry only when its key is read again, so a limiter
    keyed by client address would keep one entry per address that ever looked an appeal up, for as
    long as the process lives. This one also sweeps out every expired entry, on a write, at most
    once per ``sweep_seconds``: its size follows the addresses of the last minutes, not of all time."""

    def __init__(self, sweep_seconds: float = 60.0) -> None:
        super().__init__()
        self._sweep_seconds = sweep_seconds
        self._next_sweep = time.monotonic() + sweep_seconds

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        await super().set(key, value, expires_in)
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self._sweep_seconds
            await self.delete_expired()

    def count(self) -> int:
        """Entries held, expired ones not yet swept included (not ``__len__``: Litestar's store
        registry replaces a store that is falsy, as an empty one would be)."""
        return len(self._store)


def status_handler(lookups_per_minute: int) -> HTTPRouteHandler:
    """The handler, rate-limited per client address (per process: a proxy in front adds its own)
    in the :class:`SweptMemoryStore` the app registers as ``STORE``."""
    limit = RateLimitConfig(rate_limit=("minute", lookups_per_minute), store=STORE)

    @get(
        "/public/v1/status",
        middleware=[limit.middleware],
        summary="Status of an appeal by registration number and access code",
        tags=["Public"],
        security=contract.PUBLIC,
        responses=contract.answers(contract.PublicStatus, 404, 429),
    )
    async def status_lookup(
        hub: Hub,
        number: str = Parameter(min_length=1, max_length=64, description="the agency's registration number"),
        code: str = Parameter(min_length=1, max_length=32, description="the access code from the cabinet"),
    ) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(status.lookup, hub, number, code)

    return status_lookup
