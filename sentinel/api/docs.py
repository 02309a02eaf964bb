"""The API documentation pages (/docs: Swagger UI, /redoc: ReDoc) on assets installed with the package, so they
work on a network without the internet: FastAPI's own pages load them from a CDN and stay blank offline.

The assets come from the ``fastapi-offline`` wheel (Swagger UI 5 and ReDoc's standalone bundle, MIT and Apache
licensed, kept current with their upstream releases); only its files are used, the pages are FastAPI's own."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the documentation assets are served; under /static/, so they are never rate limited like assets elsewhere.
DOCS_ASSETS = "/static/docs"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
FAVICON = "/static/favicon.svg"
#: The pages may load nothing from another site, even where the bundles would (ReDoc's footer shows Redocly's logo
#: from their CDN): the browser refuses it. The pages' own bootstrap script and the bundles' styles are inline.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
#: Swagger UI otherwise sends the schema's URL to validator.swagger.io for a badge: an outside request per visit.
SWAGGER_PARAMETERS = {"validatorUrl": None, "deepLinking": True, "displayRequestDuration": True}


def install_docs(app: FastAPI) -> None:
    """/docs and /redoc on local assets. Call before mounting /static, which would otherwise shadow the assets."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return same_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                oauth2_redirect_url=oauth2_redirect,
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=FAVICON,
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return same_origin_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=FAVICON,
                # The fonts would come from Google: the system's fonts read as well.
                with_google_fonts=False,
            )
        )


def same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page
