"""The Litestar application: one process serves the portal, agencies' EDMS and operators.

Run with ``appeals-gateway serve`` or ``uvicorn --factory gateway.faces.rest.app:create_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gateway.adapters.logs import configure_logging
from gateway.config import Settings, get_settings
from gateway.faces.boundary import CheckedRequest, check_parameters
from gateway.faces.proxy import TrustedProxies
from gateway.faces.rest import contract, health, portal, public
from gateway.faces.rest import metrics as metrics_face
from gateway.faces.rest.analytics import AnalyticsController, open_data
from gateway.faces.rest.docs import OfflineSwagger
from gateway.faces.rest.ops import OpsController
from gateway.faces.rest.problems import exception_handler, record_refusal
from gateway.faces.rest.request_log import RequestLog
from gateway.faces.rest.sed import SedController
from gateway.faces.rest.statuses import reissue_access_code, upload_statuses
from gateway.faces.soap import routes as soap
from gateway.service.hub import Hub, open_hub

SCHEMA_PATH = "/schema"


def _provide_hub(state: State) -> Hub:
    return state.hub


def size_thread_pools(threads: int) -> None:
    """Run at most ``threads`` service calls at once, in either pool a request's sync code runs
    in: anyio's (the handlers' ``anyio.to_thread.run_sync``) and the event loop's default
    executor (Litestar's ``sync_to_thread`` dependencies). Why that many: Settings.thread_tokens."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="handler")
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        size_thread_pools(settings.thread_tokens)
        hub = await anyio.to_thread.run_sync(open_hub, settings)
        app.state.hub = hub
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(hub.close)

    app = Litestar(
        route_handlers=[
            health.live,
            health.ready,
            metrics_face.scrape,
            portal.push_appeal,
            portal.answer_attachment,
            portal.withdraw,
            portal.give_feedback,
            SedController,
            upload_statuses,
            reissue_access_code,
            soap.contract,
            soap.call,
            OpsController,
            public.status_handler(settings.status_lookups_per_minute),
            AnalyticsController,
            open_data,
        ],
        dependencies={"hub": Provide(_provide_hub, sync_to_thread=False)},
        # Every string a route takes is held to the text rule before its handler runs.
        request_class=CheckedRequest,
        before_request=check_parameters,
        exception_handlers={Exception: exception_handler},
        after_exception=[record_refusal],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Appeals Gateway",
            version="1",
            path=SCHEMA_PATH,
            render_plugins=[OfflineSwagger(SCHEMA_PATH)],  # no CDN: a closed network reads it too
        ),
        logging_config=None,  # configure_logging owns logging: JSON lines, no personal data
    )
    contract.complete(app.openapi_schema, settings)  # built now, before the first request serves it
    # Outside routing, so requests no route matched get their request id and access line too;
    # outermost, what a proxy vouches for is settled before anything reads the request.
    app.asgi_handler = TrustedProxies(
        RequestLog(app.asgi_handler), settings.trusted_proxies, settings.client_cert_header
    )
    return app
