"""Health endpoints for load balancers and orchestrators (no credentials, no personal data)."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from gateway.faces.rest import contract
from gateway.service import health
from gateway.service.hub import Hub


@get(
    "/health/live",
    summary="The process is up",
    tags=["Health"],
    security=contract.PUBLIC,
    responses={200: ResponseSpec(contract.Live, generate_examples=False, description="Live")},
)
async def live() -> dict[str, str]:
    return {"status": "live"}


@get(
    "/health/ready",
    summary="The hub can serve: database reachable, schema current",
    tags=["Health"],
    security=contract.PUBLIC,
    responses={
        200: ResponseSpec(contract.Ready, generate_examples=False, description="Ready"),
        503: ResponseSpec(contract.Ready, generate_examples=False, description="Not ready: see `checks`"),
    },
)
async def ready(hub: Hub) -> Response[dict[str, Any]]:
    checks = await anyio.to_thread.run_sync(health.readiness, hub)
    ok = all(c.ok for c in checks)
    body = {
        "status": "ready" if ok else "not-ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return Response(body, status_code=200 if ok else 503)
