"""The public face: anyone with a registration number and its access code sees the appeal's status."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter

from gateway.service import status
from gateway.service.hub import Hub
from gateway.service.rate_limit import Allowance, SharedRateLimit

BUCKET = "status-lookup"


def status_handler(lookups_per_minute: int) -> HTTPRouteHandler:
    """The handler, rate-limited per client address across every hub node (the count lives in
    PostgreSQL, ``gateway/service/rate_limit.py``). The address is the TCP peer's, or the one a
    trusted proxy forwarded (``gateway/faces/proxy.py``)."""
    limit = SharedRateLimit(BUCKET, lookups_per_minute)

    @get(
        "/public/v1/status",
        summary="Status of an appeal by registration number and access code",
        tags=["Public"],
    )
    async def status_lookup(
        request: Request,
        hub: Hub,
        number: str = Parameter(min_length=1, max_length=64, description="the agency's registration number"),
        code: str = Parameter(min_length=1, max_length=32, description="the access code from the cabinet"),
    ) -> Response[dict[str, Any]]:
        client = request.client.host if request.client else "unknown"
        allowance = await anyio.to_thread.run_sync(limit.check, hub, client)
        if not allowance.allowed:
            raise TooManyRequestsException(
                "too many status lookups from this address; retry later",
                headers={"Retry-After": str(allowance.reset_seconds), **_headers(allowance)},
            )
        found = await anyio.to_thread.run_sync(status.lookup, hub, number, code)
        return Response(found, headers=_headers(allowance))

    return status_lookup


def _headers(allowance: Allowance) -> dict[str, str]:
    """The draft IETF RateLimit fields Litestar's limiter sent, kept for clients that read them."""
    return {
        "RateLimit-Limit": str(allowance.limit),
        "RateLimit-Remaining": str(allowance.remaining),
        "RateLimit-Reset": str(allowance.reset_seconds),
    }
