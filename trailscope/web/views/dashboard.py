"""``/d/<name>``: one dashboard over the filter bar, its JSON twin and each panel's download."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import HTMLResponse

from trailscope.errors import TrailscopeError
from trailscope.web import panels as draw
from trailscope.web.dashboards import (
    Dashboard,
    Panel,
    drill_key,
    explore_spec,
    panel_filter,
    panel_sql,
)
from trailscope.web.downloads import download_response, download_rows
from trailscope.web.explore import build_sql
from trailscope.web.filters import Filters, bucket_seconds, read_time
from trailscope.web.lakeview import LakeView, Result
from trailscope.web.views.base import Call, NotFound, Page, View

log = logging.getLogger(__name__)

#: Seconds the background warm-up pauses between dashboards, for requests waiting meanwhile.
WARM_PAUSE = 0.05


def settings(
    dash: Dashboard, query: dict[str, str], filters: Filters
) -> tuple[dict[str, str], dict[str, Any]]:
    """The chosen options (from fixed lists) and the typed field values, bound as parameters."""
    choices = {}
    for o in dash.options:
        value = query.get(o.name) or o.default
        if value not in o.choices:
            raise TrailscopeError(
                f"unknown {o.label.lower()} {value!r}", hint="one of " + ", ".join(o.choices)
            )
        choices[o.name] = value
    values: dict[str, Any] = {}
    for f in dash.fields:
        raw = (query.get(f.name) or "").strip() or f.default
        if raw is None:
            values[f.name] = None
        elif f.type == "int":
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise TrailscopeError(f"{f.label} must be a whole number, not {raw!r}") from None
        elif f.type == "time":
            from datetime import datetime

            now = datetime.fromisoformat(filters.now.replace("Z", "+00:00"))
            from trailscope.web.filters import iso

            values[f.name] = iso(read_time(raw, now=now, tz=filters.tz))
        elif f.type == "bool":
            values[f.name] = True if raw.lower() in ("1", "true", "yes", "on") else None
        else:
            values[f.name] = raw
    return choices, values


def extra_settings(
    query: dict[str, str], choices: dict[str, str], values: dict[str, Any]
) -> dict[str, str]:
    """The dashboard's own settings in the URL, kept in its links."""
    return {k: v for k, v in query.items() if k in choices or (k in values and v)}


def panel_request(
    dash: Dashboard, panel: Panel, choices: dict[str, str], filters: Filters
) -> tuple[str, dict[str, Any]]:
    if panel.explore is not None:
        spec = explore_spec(panel.explore)
        sql, extra = build_sql(spec, filters.where())
        return sql, extra
    return panel_sql(panel, choices, dash, filters.where()), {}


def dashboard_data(
    view: LakeView, dash: Dashboard, query: dict[str, str], filters: Filters
) -> dict[str, Any]:
    """Every panel's rows for this filter: what the page draws and the JSON twin returns."""
    choices, values = settings(dash, query, filters)
    filters.extra = extra_settings(query, choices, values)
    bucket = bucket_seconds(filters.seconds())
    params = {**filters.params(), **values, "bucket": bucket}
    asks = []
    for panel in dash.panels:
        try:
            sql, extra = panel_request(dash, panel, choices, filters)
        except TrailscopeError as exc:
            sql, extra = f"-- {exc.message}\nSELECT 1 WHERE false", {}
        asks.append((sql, {**params, **extra}))
    answers = view.query_many(asks)
    out = []
    for panel, res in zip(dash.panels, answers, strict=True):
        entry: dict[str, Any] = {"id": panel.id, "title": panel.title, "kind": panel.chart}
        if isinstance(res, TrailscopeError):
            entry |= {"columns": [], "rows": [], "error": res.message}
        else:
            rows = res.rows
            if panel.page_size:
                page = _page_number(query.get(f"{panel.id}_page"))
                pages = max(1, -(-len(rows) // panel.page_size))
                page = min(page, pages)
                entry |= {"total_rows": len(rows), "page": page, "pages": pages}
                rows = rows[(page - 1) * panel.page_size : page * panel.page_size]
            entry |= {"columns": res.columns, "rows": rows, "ms": round(res.ms, 1), "sql": res.sql}
        out.append(entry)
    return {
        "dashboard": dash.name,
        "title": dash.title,
        "file": dash.file if not dash.builtin else None,
        "filters": filters.to_json(),
        "options": choices,
        "fields": dict(values),
        "bucket_seconds": bucket,
        "panels": out,
    }


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        raise TrailscopeError(f"the page must be a number, not {raw!r}") from None


def decorate(dash: Dashboard, data: dict[str, Any], filters: Filters) -> list[dict[str, Any]]:
    """Chart geometry and drill-down links for the HTML page."""
    choices = data["options"]
    bucket = data["bucket_seconds"]
    out = []
    for panel, entry in zip(dash.panels, data["panels"], strict=True):
        item = dict(entry)
        item["panel"] = panel
        fixed = panel_filter(panel, choices, dash)
        drill = draw.Drill(filters, fixed, drill_key(panel, choices, dash), bucket)
        if "error" in entry:
            out.append(item)
            continue
        rows = entry["rows"]
        if panel.explore is not None:
            spec = explore_spec(panel.explore)
            item["chart"] = draw.explore_chart(spec, rows, filters, bucket)
            item["kind"] = "explore"
            item["explore_link"] = filters.link(
                "/explore", keep_extra=False, more=spec.query_items()
            )
        elif panel.chart == "table":
            item["links"] = draw.table_links(rows, drill, panel.row_drill)
        elif panel.chart == "stats":
            item["tile_links"] = _tile_links(dash, panel, fixed, filters)
        else:
            item["chart"] = draw.sql_panel(panel.chart, rows, drill)
        out.append(item)
    return out


def _tile_links(
    dash: Dashboard, panel: Panel, fixed: dict[str, str], filters: Filters
) -> dict[str, str]:
    """A tile's link: the dashboard with its settings (a field or option), else its events."""
    own = {f.name for f in dash.fields} | {o.name for o in dash.options}
    links = {}
    for stat, changes in panel.tiles.items():
        if set(changes) <= own:
            own_changes: dict[str, str | None] = {k: v or None for k, v in changes.items()}
            links[stat] = filters.link_changes(f"/d/{dash.name}", own_changes)
        else:
            links[stat] = filters.link_changes("/events", {**fixed, **changes}, keep_extra=False)
    return links


class DashboardView(View):
    """One dashboard: ``/d/<name>`` and ``/d/<name>.json`` (also ``/api/d/<name>``)."""

    def dashboard(self, name: str) -> Dashboard:
        registry = self.site.registry
        problem = registry.error(name)
        if problem is not None:
            raise problem
        dash = registry.get(name)
        if dash is None:
            raise NotFound(f"no dashboard named {name!r}", hint=", ".join(registry.all()))
        return dash

    def page(self, call: Call) -> Page:
        dash = self.dashboard(call.param("name"))
        filters = self.site.filters(call.query)
        view = self.site.view

        choices, values = settings(dash, call.query, filters)
        filters.extra = extra_settings(call.query, choices, values)
        key = (
            "dashboard",
            id(dash),
            call.fmt,
            call.request.url.path,
            tuple(sorted(call.items)),
            filters.resolved_since,
            filters.resolved_until,
            filters.tz.key,
        )

        def compute() -> tuple[dict[str, Any], bytes | None]:
            data = dashboard_data(view, dash, call.query, filters)
            if call.fmt != "html":
                return data, None
            context: dict[str, Any] = {
                "dash": dash,
                "data": data,
                "panels": decorate(dash, data, filters),
                "filters": filters,
                "here": f"/d/{dash.name}",
                "json_url": filters.link(f"/d/{dash.name}.json"),
                "refresh": call.query.get("refresh"),
                "accounts": view.info().accounts,
                "regions": view.info().regions,
            }
            page = self.site.render(call.request, "dashboard.html", **context)
            return data, bytes(page.body)

        # a dashboard drawn once is kept, whole, until the lake changes (or, for a relative
        # range, until the next minute): no page of it holds anything per visitor
        data, html = view.page_memo(key, compute)
        if html is None:
            return Page(data)
        return Page(data, response=HTMLResponse(html))


class PanelDownload(View):
    """``/d/<name>/<panel>.csv`` (or ``.json``): one panel's whole result, as shown."""

    heavy = True

    def page(self, call: Call) -> Page:
        dash = DashboardView(self.site).dashboard(call.param("name"))
        panel = next((p for p in dash.panels if p.id == call.param("panel")), None)
        if panel is None:
            raise NotFound(f"no panel {call.param('panel')!r} in {dash.name!r}")
        filters = self.site.filters(call.query)
        choices, values = settings(dash, call.query, filters)
        sql, extra = panel_request(dash, panel, choices, filters)
        params = {
            **filters.params(),
            **values,
            **extra,
            "bucket": bucket_seconds(filters.seconds()),
        }
        body = download_rows(self.site.view, sql, params, call.fmt)
        return Page({}, response=download_response(body, f"{dash.name}-{panel.id}", call.fmt))


class DashboardList(View):
    def page(self, call: Call) -> Page:
        registry = self.site.registry
        data = [
            {
                "name": d.name,
                "title": d.title,
                "description": d.description,
                "builtin": d.builtin,
                "panels": [{"id": p.id, "title": p.title, "kind": p.chart} for p in d.panels],
            }
            for d in registry.all().values()
        ]
        data += [
            {"name": name, "title": name, "error": e.message, "file": e.file, "line": e.line}
            for name, e in registry.errors.items()
        ]
        return Page(data)


def warm(view: LakeView, dashboards: dict[str, Dashboard], default_tz: str = "UTC") -> None:
    """Compute every dashboard's default view once, so the first visit finds it ready.

    Runs in the background when the server starts; a request arriving meanwhile takes another
    pooled connection, so it does not wait for this. Errors are left for the page to show."""
    for dash in dashboards.values():
        if view.closed:
            return
        try:
            filters = Filters.from_query({}, view.span(), default_tz=default_tz)
            dashboard_data(view, dash, {}, filters)
        except TrailscopeError:
            pass
        except Exception:
            if view.closed:  # the server stopped and interrupted the query in flight
                return
            raise
        time.sleep(WARM_PAUSE)


__all__ = ["DashboardList", "DashboardView", "PanelDownload", "Result", "warm"]
