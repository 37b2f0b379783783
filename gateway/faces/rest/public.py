"""The public face: anyone with a registration number and its access code sees the appeal's status."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Parameter

from gateway.service import status
from gateway.service.hub import Hub


def status_handler(lookups_per_minute: int) -> HTTPRouteHandler:
    """The handler, rate-limited per client address (per process: a proxy in front adds its own)."""
    limit = RateLimitConfig(rate_limit=("minute", lookups_per_minute), store="status_lookups")

    @get(
        "/public/v1/status",
        middleware=[limit.middleware],
        summary="Status of an appeal by registration number and access code",
        tags=["Public"],
    )
    async def status_lookup(
        hub: Hub,
        number: str = Parameter(min_length=1, max_length=64, description="the agency's registration number"),
        code: str = Parameter(min_length=1, max_length=32, description="the access code from the cabinet"),
    ) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(status.lookup, hub, number, code)

    return status_lookup
