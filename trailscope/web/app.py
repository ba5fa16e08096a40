"""The FastAPI application: the views of :mod:`trailscope.web.views` behind the server's guards.

Each page has a JSON twin (the same path with ``.json``) with exactly the data the page shows.
Pages are rendered on the server with Jinja2 (autoescaping on for every template: CloudTrail
fields are attacker-controlled text) and need no script to show their data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from trailscope import Lake, __version__
from trailscope.errors import TrailscopeError
from trailscope.web import auth
from trailscope.web.security import SESSION_COOKIE, Guard
from trailscope.web.site import HERE, Settings, Site, json_response
from trailscope.web.views import register
from trailscope.web.views.base import error_info

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(
    lake_path: str | os.PathLike[str] | Lake,
    *,
    token: str | None = None,
    loopback_only: bool = False,
    timeout: float = 30.0,
    tz: str = "UTC",
    dashboards: str | os.PathLike[str] | None = None,
    queries: str | os.PathLike[str] | None = None,
    rules: list[str | os.PathLike[str]] | None = None,
) -> FastAPI:
    """The web app over one lake (a path, an ``s3://`` location or a ``Lake``).

    :param loopback_only: answer only requests addressed to a loopback name (the server sets
        it when it listens on loopback without a token).
    :param tz: the time zone pages show times in (a page may choose another).
    :param dashboards: a folder of the user's dashboard files (YAML or JSON).
    :param queries: a folder of the user's saved queries (``.sql``), added to the library.
    :param rules: folders of detection rules (YAML or Sigma) the Detections page also runs.
    """
    settings = Settings(
        timeout=timeout,
        tz=tz,
        dashboards_dir=Path(dashboards) if dashboards else None,
        queries_dir=Path(queries) if queries else None,
        rule_dirs=[Path(r) for r in rules or []],
    )
    site = Site(lake_path, settings)
    app = FastAPI(title="trailscope", version=__version__, docs_url=None, redoc_url=None)
    app.state.site = site
    app.state.view = site.view

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        fresh = session is None
        request.state.session = session or Guard.new_session()
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: nothing leaks to other sites, and our own POSTs carry their Origin
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "max-age=3600"
        else:
            response.headers.setdefault("Cache-Control", "no-store")
        if fresh and response.headers.get("content-type", "").startswith("text/html"):
            response.set_cookie(
                SESSION_COOKIE, request.state.session, httponly=True, samesite="strict"
            )
        return response

    # outermost: the token and the host name are checked before anything else runs
    app.middleware("http")(auth.middleware(token, loopback_only))
    app.add_middleware(GZipMiddleware, minimum_size=4096)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    register(app, site)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "nothing here", 405: "this address does not take that method"}.get(
            exc.status_code, str(exc.detail)
        )
        error = TrailscopeError(f"{message}: {request.method} {request.url.path}")
        wants_json = request.url.path.startswith("/api/") or request.url.path.endswith(".json")
        if wants_json or request.method != "GET":
            return json_response(error_info(error), exc.status_code)
        return site.render(request, "error.html", exc.status_code, error=error)

    return app
