"""The API reference at ``/schema``, readable on a closed network.

Litestar's pages load Swagger UI (or Redoc) from a CDN and a favicon from GitHub: on a government
network with no way out they are blank. Here Swagger UI's scripts and styles come from the
``swagger-ui-py`` package (Apache-2.0, its LICENSE shipped beside the files), served by the hub
itself under ``/schema/assets``; the page names nothing outside the hub and uses no web fonts.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_DIR = Path(swagger_ui.__file__).parent / "static"
ASSETS = "/assets"  # under the OpenAPI config's path: /schema/assets/…


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI at ``/schema`` (and ``/schema/swagger``) from the package's files."""

    def __init__(self, schema_path: str) -> None:
        base = schema_path.rstrip("/") + ASSETS
        super().__init__(
            path=["/", "/swagger"],
            js_url=f"{base}/swagger-ui-bundle.js",
            css_url=f"{base}/swagger-ui.css",
            standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(
            create_static_files_router(
                path=ASSETS, directories=[ASSETS_DIR], include_in_schema=False, name="swagger-ui-assets"
            )
        )
