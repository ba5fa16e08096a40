"""The SQL workbench: Athena SQL from a form, run read-only, shown, charted and downloaded.

What the page sends: ``sql``, optionally ``q`` (the saved query it started from; its typed
parameters come as ``p_<name>`` fields and are bound, never pasted), ``limit`` (rows to show),
and a chart choice. Relative times in parameters (``24h``) count back from now, as they do on
the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.queries import SavedQuery
from trailscope.web.lakeview import LakeView, Result

DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
DEFAULT_SQL = """SELECT eventsource, eventname, count(*) AS events
FROM cloudtrail
GROUP BY eventsource, eventname
ORDER BY events DESC
LIMIT 20"""
CHARTS = ("none", "bar", "pie")


@dataclass
class Request:
    sql: str
    saved: SavedQuery | None = None
    values: dict[str, str] = field(default_factory=dict)  # p_<name> without the prefix
    limit: int = DEFAULT_LIMIT
    chart: str = "none"  # none | bar | pie
    x: str | None = None
    y: str | None = None
    series: str | None = None  # a column that splits the bars (the colour)

    @classmethod
    def from_form(cls, form: dict[str, str], library: dict[str, SavedQuery]) -> Request:
        name = (form.get("q") or "").strip()
        saved = library.get(name) if name else None
        if name and saved is None:
            raise TrailscopeError(f"no saved query named {name!r}")
        sql = form.get("sql")
        if sql is None or not sql.strip():
            sql = saved.sql if saved else ""
        values = {k[2:]: v for k, v in form.items() if k.startswith("p_")}
        try:
            limit = int(form.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            raise TrailscopeError(
                f"the row limit must be a whole number, not {form['limit']!r}"
            ) from None
        chart = form.get("chart") or "none"
        if chart not in CHARTS:
            raise TrailscopeError(f"unknown chart {chart!r}", hint="none, bar or pie")
        x, y = form.get("x") or None, form.get("y") or None
        series = form.get("series") or None
        if saved and saved.chart and "chart" not in form:
            chart, x, y = _chart_spec(saved.chart)
        return cls(sql, saved, values, max(1, min(limit, MAX_LIMIT)), chart, x, y, series)


def _chart_spec(spec: str) -> tuple[str, str | None, str | None]:
    """'bar x=eventname y=calls' -> ('bar', 'eventname', 'calls'); other kinds show no chart."""
    parts = spec.split()
    kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if parts and parts[0] == "bar":
        return "bar", kv.get("x"), kv.get("y")
    return "none", None, None


def bind(request: Request) -> dict[str, Any]:
    """The saved query's parameters, typed and converted (relative times count from now)."""
    if request.saved is None:
        return {}
    known = {p.name for p in request.saved.params}
    return request.saved.bind({k: v for k, v in request.values.items() if k in known})


def run(view: LakeView, request: Request) -> tuple[Result, dict[str, Any]]:
    params = bind(request)
    return view.query(request.sql, params, limit=request.limit, user=True), params


def saved_query_json(q: SavedQuery) -> dict[str, Any]:
    """A saved query as the JSON twins show it."""
    return {
        "name": q.name,
        "title": q.title,
        "description": q.description,
        "sql": q.sql,
        "chart": q.chart,
        "params": [p.__dict__ for p in q.params],
    }
