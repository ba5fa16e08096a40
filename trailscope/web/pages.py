"""What each page shows, as plain data: the HTML page and its JSON twin render the same dict."""

from __future__ import annotations

import time
from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.timeparse import parse_time
from trailscope.web import charts
from trailscope.web.dashboards import Dashboard, Panel, drill_key, panel_sql
from trailscope.web.events import DRILLS, EventsPage
from trailscope.web.filters import Filters, bucket_seconds, iso
from trailscope.web.lakeview import LakeView, Result

#: Seconds the background warm-up pauses between dashboards, for requests waiting meanwhile.
WARM_PAUSE = 0.05


def dashboard_settings(
    dash: Dashboard, query: dict[str, str], view: LakeView
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
            values[f.name] = iso(parse_time(raw, now=view.span().latest))
        else:
            values[f.name] = raw
    return choices, values


def dashboard_data(view: LakeView, dash: Dashboard, query: dict[str, str]) -> dict[str, Any]:
    """Every panel's rows for this filter: what the page draws and the JSON twin returns."""
    filters = Filters.from_query(query, view.span())
    choices, values = dashboard_settings(dash, query, view)
    filters.extra = {k: v for k, v in query.items() if k in choices or (k in values and v)}
    bucket = bucket_seconds(filters.seconds())
    params = {**filters.params(), **values, "bucket": bucket}
    panels = []
    answers = view.query_many(
        [(panel_sql(panel, choices, dash, filters.where()), params) for panel in dash.panels]
    )
    for panel, res in zip(dash.panels, answers, strict=True):
        entry: dict[str, Any] = {"id": panel.id, "title": panel.title, "kind": panel.kind}
        if isinstance(res, TrailscopeError):
            entry |= {"columns": [], "rows": [], "error": res.message}
        else:
            entry |= {"columns": res.columns, "rows": res.rows, "ms": round(res.ms, 1)}
            entry["sql"] = res.sql
        panels.append(entry)
    return {
        "dashboard": dash.name,
        "title": dash.title,
        "filters": filters.to_json(),
        "options": choices,
        "fields": {k: v for k, v in values.items()},
        "bucket_seconds": bucket,
        "panels": panels,
        "_filters": filters,
    }


def decorate(dash: Dashboard, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Chart geometry and drill-down links for the HTML page."""
    filters: Filters = data["_filters"]
    choices = data["options"]
    bucket = data["bucket_seconds"]
    out = []
    for panel, entry in zip(dash.panels, data["panels"], strict=True):
        item = dict(entry)
        item["panel"] = panel
        key = drill_key(panel, choices, dash)
        if "error" not in entry:
            if panel.kind == "timeseries":
                item["chart"] = charts.stacked_time(
                    entry["rows"],
                    since=filters.resolved_since,
                    until=filters.resolved_until,
                    bucket=bucket,
                    link=lambda t, s, p=panel, k=key: _series_link(filters, p, k, s, t, bucket),
                    series_link=lambda s, p=panel, k=key: _series_link(filters, p, k, s),
                )
            elif panel.kind == "line":
                item["chart"] = charts.line_time(
                    entry["rows"],
                    since=filters.resolved_since,
                    until=filters.resolved_until,
                    bucket=bucket,
                    unit=" %",
                )
            elif panel.kind == "bars":
                item["chart"] = charts.hbars(
                    entry["rows"],
                    link=lambda r, p=panel, k=key: _bar_link(filters, p, k, r),
                )
            elif panel.kind == "table":
                item["links"] = [_row_links(filters, panel, r) for r in entry["rows"]]
        out.append(item)
    return out


def _series_link(
    filters: Filters,
    panel: Panel,
    key: str | None,
    series: str,
    t: int | None = None,
    bucket: int = 0,
) -> str | None:
    if series in ("(other)", "(none)") and t is None:
        return None
    changes: dict[str, str | None] = dict(panel.fixed)
    if key and series not in ("(other)", "(none)"):
        changes[key] = series
    if t is not None:
        from trailscope.web.filters import shift

        start = iso_epoch(t)
        end = shift(start, seconds=bucket - 1)
        start = max(start, filters.resolved_since)
        end = min(end, filters.resolved_until)
        changes |= filters.window(start, end)
    return filters.link("/events", keep_extra=False, **changes)


def iso_epoch(t: int) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(t, UTC))


def _bar_link(filters: Filters, panel: Panel, key: str | None, row: dict[str, Any]) -> str | None:
    value = row["key"] if "key" in row else row.get("label")
    if not key or value is None:
        return None
    return filters.link("/events", keep_extra=False, **{**panel.fixed, key: str(value)})


def _row_links(filters: Filters, panel: Panel, row: dict[str, Any]) -> dict[str, str]:
    links: dict[str, str] = {}
    if row.get("eventid"):
        t = row.get("eventtime")
        links["eventid"] = event_link(str(row["eventid"]), str(t) if t else None)
    if panel.row_drill:
        changes: dict[str, str | None] = dict(panel.fixed)
        for column, key in panel.row_drill.items():
            if row.get(column) is not None:
                changes[key] = str(row[column])
        links["_row"] = filters.link("/events", keep_extra=False, **changes)
    return links


def event_link(eventid: str, eventtime: str | None) -> str:
    from urllib.parse import quote, urlencode

    return f"/event/{quote(eventid, safe='')}" + (
        "?" + urlencode({"t": eventtime}) if eventtime else ""
    )


def events_data(page: EventsPage, filters: Filters) -> dict[str, Any]:
    res: Result = page.result
    return {
        "filters": filters.to_json(),
        "drills": page.drills,
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
        "page_size": len(res.rows),
        "columns": res.columns,
        "rows": res.rows,
        "sql": res.sql,
    }


def drill_labels(drills: dict[str, str]) -> list[tuple[str, str, str]]:
    return [(k, DRILLS[k][0], v) for k, v in drills.items()]


def warm(view: LakeView) -> None:
    """Compute every dashboard's default view once, so the first visit finds it ready.

    Runs in the background when the server starts; a request arriving meanwhile waits for at
    most the one dashboard in progress: after each one this thread pauses, so a waiting request
    takes the engine first (a released lock is not handed to the longest waiter). Errors are
    left for the page to show."""
    from trailscope.web.dashboards import DASHBOARDS

    for dash in DASHBOARDS.values():
        if view.closed:
            return
        try:
            dashboard_data(view, dash, {})
        except TrailscopeError:
            pass
        except Exception:
            if view.closed:  # the server stopped and interrupted the query in flight
                return
            raise
        time.sleep(WARM_PAUSE)
