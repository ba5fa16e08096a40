"""One view per page: it computes the page's data once, and the route serves it as HTML or as
its JSON twin (the same path with ``.json``, or under ``/api``), as datasette's views do.

A view's :meth:`View.page` runs in a worker thread, never on the server's event loop, so a slow
query holds one thread and one connection while every other page goes on. Query views
(``heavy``) also count against their client's limit (:mod:`trailscope.web.limits`); POSTs pass
the same-origin and CSRF checks first (:mod:`trailscope.web.security`). Errors become a page
(or JSON) that says what went wrong, with the status that fits: 400 for bad input, 403 for a
refused request, 404 for nothing there, 429 and 503 when busy; never a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import duckdb
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trailscope.errors import TrailscopeError
from trailscope.sql import QueryError
from trailscope.web.lakeview import ServerBusy
from trailscope.web.limits import TooManyRequests, client_key
from trailscope.web.security import CSRF_FIELD, Refused
from trailscope.web.site import json_response

if TYPE_CHECKING:
    from trailscope.web.site import Site

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 2 * 1024 * 1024


class NotFound(TrailscopeError):
    """Nothing at this address (an unknown dashboard, event or file)."""


@dataclass
class Page:
    """What a view computed: the JSON twin's data, and what only the HTML page needs."""

    data: Any  # a dict (or a list, for the lists of dashboards and queries)
    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    response: Response | None = None  # a download or a redirect, served as it is


@dataclass
class Call:
    """One request as a view sees it: the query string (and form), and the format asked for."""

    request: Request
    query: dict[str, str]
    items: list[tuple[str, str]]  # every pair, repeated keys included
    form: dict[str, str]
    fmt: str  # html | json | csv | ndjson

    @property
    def path(self) -> str:
        return self.request.url.path

    def param(self, name: str) -> str:
        return str(self.request.path_params.get(name, ""))


class View:
    """A page. Subclasses set ``template`` and implement :meth:`page`."""

    heavy = False  # runs queries typed or shaped by the user: counts against the client limit

    def __init__(self, site: Site) -> None:
        self.site = site

    def page(self, call: Call) -> Page:
        raise NotImplementedError

    def endpoint(self, fmt: str = "html") -> Callable[[Request], Awaitable[Response]]:
        """The ASGI handler of this view for one format."""

        async def handle(request: Request) -> Response:
            return await self.handle(request, fmt)

        return handle

    async def handle(self, request: Request, fmt: str) -> Response:
        want = fmt
        try:
            form: dict[str, str] = {}
            if request.method == "POST":
                body = await request.body()
                if len(body) > MAX_FORM_BYTES:
                    raise TrailscopeError("the request is too large", hint="at most 2 MiB")
                form = _read_form(request, body)
                self.site.guard.check_post(request, form.pop(CSRF_FIELD, None))
            items = list(request.query_params.multi_items())
            call = Call(request, dict(request.query_params), items, form, want)
            if self.heavy:
                with self.site.limiter.slot(client_key(request)):
                    return await run_in_threadpool(self.respond, call)
            return await run_in_threadpool(self.respond, call)
        except Exception as exc:  # every failure becomes a page that says what went wrong
            return self.error(request, want, exc)

    def respond(self, call: Call) -> Response:
        """The page's data and its rendering, in a worker thread (templates take time too)."""
        try:
            page = self.page(call)
            if page.response is not None:
                return page.response
            if call.fmt != "html" or not page.template:
                return json_response(page.data, page.status)
            return self.site.render(call.request, page.template, page.status, **page.context)
        except Exception as exc:
            return self.error(call.request, call.fmt, exc)

    def error(self, request: Request, fmt: str, exc: BaseException) -> Response:
        status, error = _status_of(exc)
        headers = {"Retry-After": "2"} if status in (429, 503) else None
        if fmt != "html":
            return json_response(error_info(error), status, headers=headers)
        response = self.site.render(request, "error.html", status, error=error)
        if headers:
            response.headers.update(headers)
        return response


def _status_of(exc: BaseException) -> tuple[int, TrailscopeError]:
    if isinstance(exc, NotFound):
        return 404, exc
    if isinstance(exc, Refused):
        return 403, exc
    if isinstance(exc, TooManyRequests):
        return 429, exc
    if isinstance(exc, ServerBusy):
        return 503, exc
    if isinstance(exc, TrailscopeError):
        return 400, exc
    if isinstance(exc, duckdb.Error):  # input that reached the engine without a clear message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return 400, TrailscopeError(first)
    log.exception("unexpected error while serving a page")
    return 503, TrailscopeError(
        f"the server could not answer this request ({type(exc).__name__})",
        hint="try again; if it persists, the server's log has the details",
    )


def error_info(exc: TrailscopeError) -> dict[str, Any]:
    out: dict[str, Any] = {"error": exc.message, "hint": exc.hint}
    if isinstance(exc, QueryError):
        out["line"], out["column"] = exc.line, exc.column
    return out


def _read_form(request: Request, body: bytes) -> dict[str, str]:
    """A POST's fields: JSON (``{"sql", "q", "params", "limit"}``) or a urlencoded form."""
    import orjson

    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise TrailscopeError(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise TrailscopeError("the body must be a JSON object")
        form = {k: str(v) for k, v in data.items() if k != "params" and v is not None}
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise TrailscopeError("'params' must be an object of parameter values")
        form |= {f"p_{k}": str(v) for k, v in params.items()}
        return form
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
