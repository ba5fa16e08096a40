"""A panel's rows as what the page draws: chart geometry and the drill-down link of each mark.

Every bar, slice, cell, series and table row links to ``/events`` with the filter that produced
its number: the filter bar, the panel's own events filters, and the mark's value. "(other)"
links to none of the named values, "(none)" to events without a value, a time bar also
narrows the range to its slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from trailscope.web import charts
from trailscope.web.explore import Spec, drill_items, value_label
from trailscope.web.fields import dimension
from trailscope.web.filters import Filters, iso, shift

FILTER_BAR_KEYS = ("source", "account", "region", "principal")


@dataclass
class Drill:
    """How one panel's marks drill down: its events filters and the key its values set."""

    filters: Filters
    fixed: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    bucket: int = 0
    more: list[tuple[str, str]] = field(default_factory=list)  # repeated filters (Explore)

    def link(self, changes: Mapping[str, str | None], more: Sequence[tuple[str, str]] = ()) -> str:
        return self.filters.link_changes(
            "/events", {**self.fixed, **changes}, keep_extra=False, more=[*self.more, *more]
        )

    def value(self, value: Any, named: list[str]) -> str | None:
        """The events behind one value of the panel's drill key."""
        if not self.key:
            return None
        negatable = "principal" if self.key == "principal_is" else self.key
        if value == "(other)":
            return self.link({}, [(f"not_{negatable}", v) for v in named if v != "(other)"])
        if value is None or value == "(none)":
            return self.link({}, [(f"none_{negatable}", "1")])
        return self.link({self.key: str(value)})

    def window(self, t: int) -> dict[str, str | None]:
        start = iso(datetime.fromtimestamp(t, UTC))
        end = shift(start, seconds=self.bucket - 1)
        start = max(start, self.filters.resolved_since)
        end = min(end, self.filters.resolved_until)
        return {"range": "custom", "since": start, "until": end}


def time_link(drill: Drill, named: list[str]) -> Callable[[int, str], str | None]:
    """Links for a time chart's bars: one per series, made once, with each slot's window
    (a chart has up to a few thousand bars: building each address whole was slow)."""
    bases: dict[str, str | None] = {}
    windows: dict[int, str] = {}

    def link(t: int, series: str) -> str | None:
        if series not in bases:
            plain = drill.filters.link_changes(
                "/events", {**drill.fixed}, keep_extra=False, more=drill.more
            )
            base = drill.value(series, named) if drill.key else plain
            if base is not None:  # the window replaces the filter bar's own range
                base = _without(base, ("range", "since", "until"))
            bases[series] = base
        base = bases[series]
        if base is None:
            return None
        if t not in windows:
            windows[t] = urlencode({k: v for k, v in drill.window(t).items() if v})
        return base + ("&" if "?" in base else "?") + windows[t]

    return link


def _without(url: str, keys: tuple[str, ...]) -> str:
    path, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in keys]
    return path + ("?" + urlencode(kept) if kept else "")


def sql_panel(kind: str, rows: list[dict[str, Any]], drill: Drill) -> Any:
    """Chart data for a SQL panel of ``kind`` (see :mod:`trailscope.web.dashboards`)."""
    f = drill.filters
    if kind in ("time", "line", "area"):
        has_series = bool(rows) and "series" in rows[0]
        named = sorted({str(r["series"]) for r in rows}) if has_series else []
        return charts.time_chart(
            rows,
            since=f.resolved_since,
            until=f.resolved_until,
            bucket=drill.bucket,
            tz=f.tz,
            offset=f.offset_seconds(),
            kind="stacked" if kind == "time" else kind,
            s="series" if has_series else None,
            n="n" if kind == "time" else "value",
            unit="" if kind == "time" else " %",
            link=time_link(drill, named),
            series_link=lambda s: drill.value(s, named),
        )
    if kind == "bars":
        named = [str(r.get("key", r.get("label"))) for r in rows]
        return charts.bar_chart(
            rows,
            keep_order=True,
            row_link=lambda r: drill.value(r["key"] if "key" in r else r.get("label"), named),
        )
    if kind in ("pie", "donut"):
        keys = {str(r.get("label")): r.get("key", r.get("label")) for r in rows}
        named = [str(v) for v in keys.values()]
        return charts.pie_chart(
            rows,
            donut=kind == "donut",
            link=lambda label: drill.value(keys.get(str(label), label), named),
        )
    if kind == "heatmap":
        return charts.heat_map(rows)
    if kind == "map":
        from trailscope.enrich.worldmap import world_map

        codes = [str(r.get("label")) for r in rows]
        return world_map(rows, link=lambda code: drill.value(code, codes))
    return None


def table_links(
    rows: list[dict[str, Any]], drill: Drill, row_drill: dict[str, str]
) -> list[dict[str, str]]:
    out = []
    for row in rows:
        links: dict[str, str] = {}
        if row.get("eventid"):
            t = row.get("eventtime")
            links["eventid"] = event_link(str(row["eventid"]), str(t) if t else None)
        if row_drill:
            changes: dict[str, str | None] = {}
            for column, key in row_drill.items():
                if row.get(column) is not None:
                    changes[key] = str(row[column])
            links["_row"] = drill.link(changes)
        out.append(links)
    return out


def event_link(eventid: str, eventtime: str | None) -> str:
    return f"/event/{quote(eventid, safe='')}" + (
        "?" + urlencode({"t": eventtime}) if eventtime else ""
    )


# ---------------------------------------------------------------------- Explore


def explore_chart(spec: Spec, rows: list[dict[str, Any]], filters: Filters, bucket: int) -> Any:
    """Chart data for an Explore view's rows (``x``, ``y``, ``n``), each mark drilling down."""
    d = dimension(spec.dim)
    s = dimension(spec.split) if spec.split else None
    drill = Drill(filters, bucket=d.seconds or bucket, more=list(spec.filters))
    xs = list(dict.fromkeys(r["x"] for r in rows))
    ys = list(dict.fromkeys(r["y"] for r in rows)) if s else []

    def x_text(v: Any) -> str:
        return value_label(d, v, filters)

    def y_text(v: Any) -> str:
        return value_label(s, v, filters) if s else ""

    def link(x: Any, y: Any = None) -> str:
        items = [] if d.is_time else drill_items(d, x, xs)
        if s is not None and y is not None:
            items += drill_items(s, y, ys)
        changes = (
            (month_window(int(x), filters) if d.month else drill.window(int(x)))
            if d.is_time
            else {}
        )
        return drill.link(changes, items)

    metric = "events" if spec.metric == "count" else spec.metric.replace(":", " of ")
    if spec.chart in ("line", "area") or (d.is_time and spec.chart in ("bar", "column")):
        kind = {"line": "line", "area": "area"}.get(spec.chart, "stacked")
        return charts.time_chart(
            rows,
            since=filters.resolved_since,
            until=filters.resolved_until,
            bucket=d.seconds or bucket,
            tz=filters.tz,
            offset=filters.offset_seconds(),
            kind=kind,
            t="x",
            s="y" if s else None,
            n="n",
            link=lambda t, y: link(t, y if s else None),
            series_link=lambda y: drill.link({}, drill_items(s, y, ys)) if s else None,
        )
    if spec.chart in ("pie", "donut"):
        return charts.pie_chart(
            rows, x="x", donut=spec.chart == "donut", label_of=x_text, link=lambda v: link(v)
        )
    if spec.chart == "heatmap":
        assert s is not None
        x_keys = sorted(xs, key=_num) if d.ordered else None
        y_keys = sorted(ys, key=_num) if s.ordered else None
        return charts.heat_map(
            rows,
            x_keys=x_keys,
            y_keys=y_keys,
            label_x=x_text,
            label_y=y_text,
            link=link,
            x_label=d.label,
            y_label=s.label,
        )
    chart = charts.bar_chart(
        rows,
        x="x",
        s="y" if s else None,
        stacked=spec.stack == "stacked",
        keep_order=d.ordered,
        label_of=x_text,
        row_link=lambda r: link(r["x"]),
        segment_link=lambda x, y: link(x, y),
        series_link=lambda y: drill.link({}, drill_items(s, y, ys)) if s else None,
        value_label=metric,
    )
    chart.vertical = spec.chart == "column"
    return chart


def month_window(t: int, filters: Filters) -> dict[str, str | None]:
    """The calendar month (in the page's zone) that starts at ``t``, within the range."""
    start = datetime.fromtimestamp(t, UTC).astimezone(filters.tz)
    nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    since = max(iso(start), filters.resolved_since)
    until = min(shift(iso(nxt), seconds=-1), filters.resolved_until)
    return {"range": "custom", "since": since, "until": until}


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")
