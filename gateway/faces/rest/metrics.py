"""``GET /metrics`` for Prometheus: no credentials, like the health endpoints, and no personal data.

It names agencies, connectors and certificates and reads the database on every call, so expose
it to the monitoring network only (the reverse proxy does not route it from outside).
"""

from __future__ import annotations

import anyio
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from gateway.faces.rest import contract
from gateway.service import metrics
from gateway.service.hub import Hub


@get(
    "/metrics",
    media_type="text/plain",
    summary="Prometheus metrics (expose to the monitoring network only)",
    tags=["Health"],
    security=contract.PUBLIC,
    responses={
        200: ResponseSpec(
            str, generate_examples=False, description="The text exposition format", media_type="text/plain"
        ),
        503: contract.answers(str, 503)[503],
    },
)
async def scrape(request: Request, hub: Hub) -> Response[bytes]:
    body, content_type = await anyio.to_thread.run_sync(
        metrics.exposition, hub, request.headers.get("accept")
    )
    # As prometheus_client says, charset included (Litestar would append a second one to text/*).
    return Response(body, media_type="text/plain", headers={"content-type": content_type})
