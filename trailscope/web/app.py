"""The FastAPI application: routes that turn a request into page data, then HTML or JSON.

Each page has a JSON twin under ``/api`` with the same query string and exactly the data the
page shows. Pages are rendered on the server with Jinja2 (autoescaping on for every template:
CloudTrail fields are attacker-controlled text) and need no script to show their data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

from trailscope import __version__
from trailscope.errors import TrailscopeError
from trailscope.export import _default
from trailscope.facade import Lake
from trailscope.web import auth, charts, pages, workbench
from trailscope.web.dashboards import DASHBOARDS
from trailscope.web.events import drills_from, events_page, find_event, pivots
from trailscope.web.filters import RANGES, Filters
from trailscope.web.lakeview import LakeView

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["num"] = charts.fmt_number
    env.filters["val"] = charts.fmt_val
    env.filters["heading"] = charts.heading
    env.filters["pretty"] = lambda v: orjson.dumps(
        v, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC
    ).decode()
    return env


def json_response(data: Any, status: int = 200) -> Response:
    body = orjson.dumps(data, default=_default, option=orjson.OPT_NAIVE_UTC)
    return Response(body, status_code=status, media_type="application/json")


def create_app(
    lake_path: str | os.PathLike[str] | Lake,
    *,
    token: str | None = None,
    loopback_only: bool = False,
    timeout: float = 30.0,
) -> FastAPI:
    """The web app over one lake (a path, an ``s3://`` location or a ``Lake``).
    ``loopback_only`` answers only requests addressed to a loopback name (the server sets it
    when it listens on loopback without a token)."""
    view = LakeView(lake_path, timeout=timeout)
    env = _templates()
    app = FastAPI(title="trailscope", version=__version__, docs_url=None, redoc_url=None)
    app.state.view = view
    app.middleware("http")(auth.middleware(token, loopback_only))

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "max-age=3600"
        else:
            response.headers["Cache-Control"] = "no-store"
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        span = view.span()
        base = {
            "dashboards": DASHBOARDS,
            "ranges": [r for r in RANGES if r != "custom"],
            "latest": span.latest,
            "lake_name": view.lake.root.name if view.lake.root else view.lake.location,
            "version": __version__,
        }
        html = env.get_template(name).render(**base, **context)
        return HTMLResponse(html, status_code=status)

    def page_error(exc: TrailscopeError, request: Request, api: bool) -> Response:
        if api:
            return json_response(workbench.error_info(exc), 400)
        return render("error.html", 400, error=exc, path=request.url.path)

    def query_dict(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    # ------------------------------------------------------------------ dashboards

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/d/overview", status_code=307)

    def dashboard(request: Request, name: str, api: bool) -> Response:
        dash = DASHBOARDS.get(name)
        if dash is None:
            exc = TrailscopeError(f"no dashboard named {name!r}", hint=", ".join(DASHBOARDS))
            return (
                json_response(workbench.error_info(exc), 404)
                if api
                else render("error.html", 404, error=exc, path=request.url.path)
            )
        try:
            data = pages.dashboard_data(view, dash, query_dict(request))
        except TrailscopeError as exc:
            return page_error(exc, request, api)
        filters = data.pop("_filters")
        if api:
            return json_response(data)
        data["_filters"] = filters
        return render(
            "dashboard.html",
            dash=dash,
            data=data,
            panels=pages.decorate(dash, data),
            filters=filters,
            accounts=view.info().accounts,
            regions=view.info().regions,
            json_url=filters.link(f"/api/d/{name}"),
            here=f"/d/{name}",
        )

    @app.get("/d/{name}", response_class=HTMLResponse)
    def dashboard_page(request: Request, name: str) -> Response:
        return dashboard(request, name, api=False)

    @app.get("/api/d/{name}")
    def dashboard_api(request: Request, name: str) -> Response:
        return dashboard(request, name, api=True)

    @app.get("/api/dashboards")
    def dashboards_api() -> Response:
        return json_response(
            [
                {
                    "name": d.name,
                    "title": d.title,
                    "description": d.description,
                    "panels": [{"id": p.id, "title": p.title, "kind": p.kind} for p in d.panels],
                }
                for d in DASHBOARDS.values()
            ]
        )

    # ------------------------------------------------------------------ drill-down

    def events(request: Request, api: bool) -> Response:
        query = query_dict(request)
        try:
            filters = Filters.from_query(query, view.span())
            drills = drills_from(query)
            try:
                number = int(query.get("page") or 1)
            except ValueError:
                raise TrailscopeError(f"page must be a number, not {query['page']!r}") from None
            page = events_page(view, filters, drills, number)
        except TrailscopeError as exc:
            return page_error(exc, request, api)
        data = pages.events_data(page, filters)
        if api:
            return json_response(data)
        filters.extra = dict(drills)
        return render(
            "events.html",
            data=data,
            filters=filters,
            drills=pages.drill_labels(drills),
            links=[pages.event_link(r["eventid"], r["eventtime"]) for r in data["rows"]],
            accounts=view.info().accounts,
            regions=view.info().regions,
            json_url=filters.link("/api/events", page=str(page.page)),
            here="/events",
        )

    @app.get("/events", response_class=HTMLResponse)
    def events_html(request: Request) -> Response:
        return events(request, api=False)

    @app.get("/api/events")
    def events_api(request: Request) -> Response:
        return events(request, api=True)

    def event(request: Request, eventid: str, api: bool) -> Response:
        around = request.query_params.get("t") or None
        try:
            found = find_event(view, eventid, around)
            if not found and around:
                found = find_event(view, eventid, None)
        except TrailscopeError as exc:
            return page_error(exc, request, api)
        if not found:
            exc = TrailscopeError(f"no event with ID {eventid!r} in this lake")
            return (
                json_response(workbench.error_info(exc), 404)
                if api
                else render("error.html", 404, error=exc, path=request.url.path)
            )
        links = [
            [(label, "/events?" + urlencode(items)) for label, items in pivots(ev)] for ev in found
        ]
        if api:
            return json_response(
                {
                    "eventid": eventid,
                    "events": found,
                    "pivots": [
                        [{"label": label, "href": href} for label, href in group] for group in links
                    ],
                }
            )
        return render(
            "event.html",
            eventid=eventid,
            events=list(zip(found, links, strict=True)),
            json_url=request.url.path.replace("/event/", "/api/event/", 1)
            + (f"?{request.url.query}" if request.url.query else ""),
        )

    @app.get("/event/{eventid}", response_class=HTMLResponse)
    def event_html(request: Request, eventid: str) -> Response:
        return event(request, eventid, api=False)

    @app.get("/api/event/{eventid}")
    def event_api(request: Request, eventid: str) -> Response:
        return event(request, eventid, api=True)

    # ------------------------------------------------------------------ workbench

    lib = workbench.library()

    def workbench_page(form: dict[str, str], run: bool, status: int = 200) -> Response:
        context: dict[str, Any] = {"library": lib, "form": form, "limit": workbench.DEFAULT_LIMIT}
        try:
            req = workbench.Request.from_form(form, lib)
            if not req.sql.strip() and not run:
                req.sql = workbench.DEFAULT_SQL
            context |= {"req": req, "limit": req.limit}
            if run:
                result, params = workbench.run(view, req)
                context |= {"result": result, "params": params}
                if req.chart == "bar" and req.x in result.columns and req.y in result.columns:
                    context["chart"] = charts.hbars(result.rows[:40], label=req.x, value=req.y)
        except TrailscopeError as exc:
            context["error"] = workbench.error_info(exc)
            status = 400
        return render("workbench.html", status, nav="workbench", **context)

    async def form_of(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return dict(parse_qsl(body, keep_blank_values=True))

    @app.get("/workbench", response_class=HTMLResponse)
    def workbench_get(request: Request) -> Response:
        form = query_dict(request)
        return workbench_page(form, run=bool(form.get("run")))

    @app.post("/workbench", response_class=HTMLResponse)
    async def workbench_post(request: Request) -> Response:
        form = await form_of(request)
        return workbench_page(form, run=True)

    @app.post("/workbench/download")
    async def workbench_download(request: Request) -> Response:
        form = await form_of(request)
        fmt = form.get("format", "csv")
        try:
            req = workbench.Request.from_form(form, lib)
            body = workbench.download(view, req, fmt)
        except TrailscopeError as exc:
            return json_response(workbench.error_info(exc), 400)
        name = (req.saved.name if req.saved else "query") + "." + fmt
        media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}.get(
            fmt, "application/x-ndjson"
        )
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/api/query")
    async def query_api(request: Request) -> Response:
        """Run Athena SQL (or a saved query): JSON ``{"sql", "q", "params", "limit"}`` or a form."""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                return json_response({"error": f"the body is not JSON: {exc}"}, 400)
            form = {k: str(v) for k, v in body.items() if k in ("sql", "q", "limit") and v}
            form |= {f"p_{k}": str(v) for k, v in (body.get("params") or {}).items()}
        else:
            form = await form_of(request)
        try:
            req = workbench.Request.from_form(form, lib)
            result, params = workbench.run(view, req)
        except TrailscopeError as exc:
            return json_response(workbench.error_info(exc), 400)
        return json_response(
            {
                "sql": result.sql,
                "notices": result.notices,
                "params": params,
                "columns": result.columns,
                "rows": result.rows,
                "total_rows": result.total_rows,
                "limit": req.limit,
                "ms": round(result.ms, 1),
            }
        )

    @app.get("/api/queries")
    def queries_api() -> Response:
        return json_response(
            [
                {
                    "name": q.name,
                    "title": q.title,
                    "description": q.description,
                    "sql": q.sql,
                    "chart": q.chart,
                    "params": [p.__dict__ for p in q.params],
                }
                for q in lib.values()
            ]
        )

    # ------------------------------------------------------------------ detections

    def detections(request: Request, api: bool) -> Response:
        from trailscope.web.detections import detections_data

        try:
            filters = Filters.from_query(query_dict(request), view.span())
            data = detections_data(view, filters)
        except TrailscopeError as exc:
            return page_error(exc, request, api)
        if api:
            return json_response(data)
        return render(
            "detections.html",
            data=data,
            filters=filters,
            accounts=view.info().accounts,
            regions=view.info().regions,
            json_url=filters.link("/api/detections"),
            here="/detections",
        )

    @app.get("/detections", response_class=HTMLResponse)
    def detections_html(request: Request) -> Response:
        return detections(request, api=False)

    @app.get("/api/detections")
    def detections_api(request: Request) -> Response:
        return detections(request, api=True)

    # ------------------------------------------------------------------ lake status

    def status_data() -> dict[str, Any]:
        info = view.info()
        state = view.lake.state()
        days = [
            {
                "day": day,
                "files": len(parts),
                "rows": sum(p.rows for p in parts),
                "bytes": sum(p.bytes for p in parts),
            }
            for day, parts in sorted(state.parts_by_partition().items())
        ]
        sources: dict[str, dict[str, Any]] = {}
        for obj in state.objects.values():
            where = obj.uri[: obj.uri.find("AWSLogs/")] if "AWSLogs/" in obj.uri else obj.uri
            entry = sources.setdefault(where, {"source": where, "objects": 0, "events": 0})
            entry["objects"] += 1
            entry["events"] += obj.events
        return {
            "info": info.to_json(),
            "days": days,
            "sources": sorted(sources.values(), key=lambda s: -s["objects"]),
        }

    @app.get("/status", response_class=HTMLResponse)
    def status_html() -> Response:
        return render("status.html", nav="status", data=status_data(), json_url="/api/status")

    @app.get("/api/status")
    def status_api() -> Response:
        return json_response(status_data())

    return app
