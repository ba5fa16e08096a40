"""Explore: any view of the trail without writing SQL, kept in the URL.

A view is a :class:`Spec`: a dimension (``dim``: a column, struct field, JSON path, vocabulary
word or time, see :mod:`trailscope.web.fields`), a metric (``count``, ``distinct:F``,
``sum|avg|min|max:F``), an optional split by a second dimension (``split``, the colour), the
number of values kept (``top``, ``split_top``; the rest is "(other)"), a chart (bar, column,
line, area, pie, donut, heatmap, table) and events filters (:mod:`trailscope.web.drills`)
over the shared filter bar. The view becomes one Athena SQL query (:func:`build_sql`), shown
on the page and runnable in the workbench; every bar, slice and cell drills down to exactly
the events it counted, "(other)" included.

The classic views are each one URL, for example the QuickSight analysis of source IPs by
identity type: ``/explore?dim=sourceipaddress&split=useridentity.type&chart=bar``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.web import drills
from trailscope.web.fields import WEEKDAYS, Dim, aggregate, dimension, metric_input
from trailscope.web.filters import Filters
from trailscope.web.sqlwords import BUCKET

CHARTS = ("bar", "column", "line", "area", "pie", "donut", "heatmap", "table")
SPEC_KEYS = ("dim", "split", "metric", "chart", "top", "split_top", "stack", "other", "title")
MAX_TOP = 200

#: The classic views of the CloudTrail guides, each as an Explore URL's settings.
CLASSICS: dict[str, tuple[str, dict[str, str], tuple[tuple[str, str], ...]]] = {
    "quicksight-ips-by-identity-type": (
        "Source IPs by identity type (the QuickSight analysis)",
        {"dim": "sourceipaddress", "split": "useridentity.type", "chart": "bar", "top": "15"},
        (),
    ),
    "kibana-console-operations": (
        "Console operations (the Kibana recipe: userAgent console.amazonaws.com, by eventName)",
        {"dim": "eventname", "chart": "pie", "top": "10"},
        (("is.useragent", "console.amazonaws.com"),),
    ),
    "looker-general-operations-heatmap": (
        "Events by hour of day and day of week (Looker's General Operations)",
        {"dim": "hour", "split": "weekday", "chart": "heatmap"},
        (),
    ),
    "looker-ec2-instance-changes": (
        "EC2 instance changes by day (Looker's General Operations)",
        {"dim": "time:day", "split": "eventname", "chart": "line"},
        (
            ("like.eventname", "%StopInstance%"),
            ("like.eventname", "%StartInstance%"),
            ("like.eventname", "%RunInstance%"),
            ("like.eventname", "%TerminateInstance%"),
        ),
    ),
}


@dataclass(frozen=True)
class Spec:
    """One Explore view, as its URL says."""

    dim: str = "eventname"
    split: str = ""
    metric: str = "count"
    chart: str = "bar"
    top: int = 15
    split_top: int = 6
    stack: str = "stacked"  # stacked | grouped
    other: bool = False  # an "(other)" bar for the values past ``top`` (pies always have it)
    title: str = ""
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_query(cls, query: dict[str, str], items: Iterable[tuple[str, str]] = ()) -> Spec:
        """Read a view from a query string (``items``: all its pairs, for repeated filters)."""

        def number(key: str, default: int) -> int:
            raw = (query.get(key) or "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise TrailscopeError(f"{key} must be a whole number, not {raw!r}") from None
            if not 1 <= value <= MAX_TOP:
                raise TrailscopeError(f"{key} must be between 1 and {MAX_TOP}")
            return value

        chart = (query.get("chart") or "bar").strip().lower()
        if chart not in CHARTS:
            raise TrailscopeError(f"unknown chart {chart!r}", hint="one of " + ", ".join(CHARTS))
        stack = (query.get("stack") or "stacked").strip().lower()
        if stack not in ("stacked", "grouped"):
            raise TrailscopeError(f"unknown stacking {stack!r}", hint="stacked or grouped")
        spec = cls(
            dim=(query.get("dim") or "eventname").strip(),
            split=(query.get("split") or "").strip(),
            metric=(query.get("metric") or "count").strip(),
            chart=chart,
            top=number("top", 15 if chart != "table" else 50),
            split_top=number("split_top", 6),
            stack=stack,
            other=(query.get("other") or "") in ("1", "true", "yes", "on"),
            title=(query.get("title") or "").strip()[:200],
            filters=tuple((k, v) for k, v in items if drills.is_filter_key(k) and v.strip()),
        )
        spec.check()
        return spec

    def check(self) -> None:
        d = dimension(self.dim)
        s = dimension(self.split) if self.split else None
        metric_input(self.metric)
        if self.chart in ("line", "area") and not d.is_time:
            raise TrailscopeError(
                f"a {self.chart} chart runs over time", hint="set the dimension to time"
            )
        if s is not None and s.is_time:
            raise TrailscopeError("time cannot be the split", hint="make time the dimension")
        if self.chart == "heatmap" and s is None:
            raise TrailscopeError("a heat map needs a split: its rows", hint="for example weekday")
        if self.chart in ("pie", "donut") and (s is not None or d.is_time):
            raise TrailscopeError(
                f"a {self.chart} shows one dimension that is not time",
                hint="remove the split, or choose a bar chart",
            )
        drills.conditions(self.filters)  # bad filters fail here, with their message

    def query_items(self) -> list[tuple[str, str]]:
        """This view as URL items, defaults left out."""
        default = Spec()
        items = [("dim", self.dim)]
        for key in ("split", "metric", "chart", "stack", "title"):
            value = getattr(self, key)
            if value and value != getattr(default, key):
                items.append((key, value))
        if self.top != (15 if self.chart != "table" else 50):
            items.append(("top", str(self.top)))
        if self.split_top != default.split_top:
            items.append(("split_top", str(self.split_top)))
        if self.other:
            items.append(("other", "1"))
        return items + list(self.filters)

    def to_json(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "split": self.split or None,
            "metric": self.metric,
            "chart": self.chart,
            "top": self.top,
            "split_top": self.split_top,
            "stack": self.stack,
            "other": self.other,
            "title": self.title or None,
            "filters": [list(kv) for kv in self.filters],
        }

    def describe(self) -> str:
        """A plain title: 'count by eventname, split by useridentity.type'."""
        if self.title:
            return self.title
        metric = "events" if self.metric == "count" else self.metric.replace(":", " of ")
        text = f"{metric} by {dimension(self.dim).label}"
        if self.split:
            text += f" and {dimension(self.split).label}"
        return text


def _label(dim: Dim) -> str:
    """The dimension's values as text (time, hour and weekday stay numbers)."""
    if dim.ordered:
        return dim.sql
    return f"coalesce(CAST({dim.sql} AS varchar), '(none)')"


def build_sql(spec: Spec, where: str) -> tuple[str, dict[str, Any]]:
    """The view's Athena SQL over ``where`` (the filter bar's condition) and the values its
    events filters bind; it returns columns ``x`` (``y`` with a split) and ``n``."""
    d = dimension(spec.dim)
    s = dimension(spec.split) if spec.split else None
    agg, mdim = metric_input(spec.metric)
    conds = drills.conditions(spec.filters)
    cond_sql, params = drills.where(conds)
    x_expr = BUCKET if d.is_time and not d.sql else _label(d)
    cols = [f"{x_expr} AS x"]
    if s is not None:
        cols.append(f"{_label(s)} AS y")
    if mdim is not None:
        cols.append(f"{mdim.sql} AS v")
    value = aggregate(agg)
    rows_sql = f"SELECT {', '.join(cols)}\n    FROM cloudtrail\n    WHERE {where}" + (
        f"\n      AND {cond_sql}" if conds else ""
    )
    ctes = [f"e AS (\n    {rows_sql}\n)"]
    x_out, y_out, keep = "x", "y", []
    ranked_x = not d.ordered
    if ranked_x:
        ctes.append(f"tx AS (SELECT x FROM e GROUP BY x ORDER BY {value} DESC, x LIMIT {spec.top})")
        if spec.other or spec.chart in ("pie", "donut", "heatmap"):
            x_out = "CASE WHEN x IN (SELECT x FROM tx) THEN x ELSE '(other)' END"
        else:
            keep.append("x IN (SELECT x FROM tx)")
    if s is not None and not s.ordered:
        top = spec.top if spec.chart == "heatmap" else spec.split_top
        ctes.append(f"ty AS (SELECT y FROM e GROUP BY y ORDER BY {value} DESC, y LIMIT {top})")
        y_out = "CASE WHEN y IN (SELECT y FROM ty) THEN y ELSE '(other)' END"
    select = [f"{x_out} AS x"] + ([f"{y_out} AS y"] if s is not None else []) + [f"{value} AS n"]
    group = "1, 2" if s is not None else "1"
    order = "1, 2" if s is not None else ("1" if d.ordered else "n DESC, 1")
    sql = (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT {', '.join(select)}\nFROM e"
        + (f"\nWHERE {' AND '.join(keep)}" if keep else "")
        + f"\nGROUP BY {group}\nORDER BY {order}"
    )
    if spec.chart == "table" and not ranked_x:
        sql += f"\nLIMIT {MAX_TOP * 50}"
    return sql, params


def value_label(dim: Dim, value: Any, filters: Filters) -> str:
    """How one value of a dimension reads on the page."""
    if value is None:
        return "(none)"
    if dim.kind == "weekday":
        try:
            return WEEKDAYS[int(value) - 1]
        except (ValueError, IndexError):
            return str(value)
    if dim.kind == "hour":
        return f"{int(value):02d}:00"
    if dim.kind == "time":
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(int(value), UTC).astimezone(filters.tz)
        fmt = "%Y-%m" if dim.month else ("%Y-%m-%d" if dim.seconds >= 86400 else "%Y-%m-%d %H:%M")
        return moment.strftime(fmt)
    return str(value)


def drill_items(dim: Dim, value: Any, named: list[Any]) -> list[tuple[str, str]]:
    """Events filters for one value of a dimension: equal to it; for "(other)", none of the
    named values; for "(none)", empty."""
    if dim.is_time:
        return []  # a time bar narrows the range instead
    if value == "(other)":
        return [(f"not.{dim.spec}", str(v)) for v in named if v != "(other)"]
    if value is None or value == "(none)":
        return [(f"null.{dim.spec}", "1")]
    return [(f"is.{dim.spec}", str(value))]


_PARAM = re.compile(r"(?<![\w:]):([A-Za-z_]\w*)")


def inline(sql: str, params: dict[str, Any]) -> str:
    """The SQL with its bound values written in as literals (for the workbench, where the
    filter bar's values are not bound): strings quoted, numbers as they are."""

    def literal(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            return m.group(0)
        value = params[name]
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    return _PARAM.sub(literal, sql)
