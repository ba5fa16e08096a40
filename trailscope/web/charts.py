"""Chart geometry, computed on the server and drawn by the templates as HTML and inline SVG.

No chart library: the page arrives with its charts drawn, every label passes through the
templates' HTML autoescaping (event fields are attacker-controlled text), and the page script
only adds tooltips, keyboard moves, legend toggles and zoom (see docs/web.md for the measured
comparison with charting libraries). Text is never scaled: bars are HTML table rows with a
small SVG each, time charts use percentage x coordinates and pixel y coordinates in an SVG with
no viewBox, and only shapes without text (a pie, a line) are drawn in a scaled viewBox, so
labels render at their CSS size on a 1440 px screen and on a 390 px phone alike.

Colours come from the Okabe-Ito palette (safe for the common colour-vision deficiencies);
failures are also hatched, so success and failure differ without colour. This module only does
arithmetic and returns plain data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

#: Okabe & Ito's colour-blind-safe palette (black last: it hides hatching).
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#7A5195",
    "#000000",
)
#: Series with a meaning of their own: a colour, and a pattern where colour must not be alone.
FIXED: dict[str, tuple[str, str | None]] = {
    "Failure": ("#D55E00", "hatch"),
    "failure": ("#D55E00", "hatch"),
    "Success": ("#0072B2", None),
    "success": ("#0072B2", None),
    "Unknown": ("#8C8C8C", "dots"),
    "(other)": ("#A6A6A6", None),
    "(none)": ("#D4D4D4", None),
}
SPECIAL = ("(other)", "(none)")
TIME_HEIGHT, TIME_BOTTOM, TIME_TOP = 220, 24, 10
#: Heat-map shades (CSS classes h1..h8 in app.css), light to dark.
HEAT_LEVELS = 8


@dataclass
class Series:
    key: str
    label: str
    color: str
    pattern: str | None
    total: float
    index: int
    href: str | None = None

    @property
    def fill(self) -> str:
        return f"url(#pat-{self.pattern}-{self.color[1:]})" if self.pattern else self.color


def series_styles(order: list[str], totals: dict[str, float]) -> list[Series]:
    out = []
    used = 0
    for i, key in enumerate(order):
        color, pattern = FIXED.get(key, (None, None))
        if color is None:
            color, pattern = PALETTE[used % len(PALETTE)], None
            used += 1
        out.append(Series(key, key, color, pattern, totals.get(key, 0), i))
    return out


def order_series(totals: dict[str, float]) -> list[str]:
    """Biggest first, "(other)" and "(none)" last."""
    return sorted(totals, key=lambda s: (s in SPECIAL, -totals[s], s))


# ---------------------------------------------------------------------- bars


@dataclass
class Segment:
    series: int
    value: float
    x: float  # percent of the row's drawing
    w: float
    title: str
    href: str | None = None
    fill: str = ""


def short(text: str, room: int = 40) -> str:
    """A long label cut from the front: the end of an ARN or a name is what tells them apart."""
    return text if len(text) <= room else "…" + text[-(room - 1) :]


@dataclass
class BarRow:
    key: str
    label: str
    total: float
    segments: list[Segment]
    title: str
    href: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BarChart:
    rows: list[BarRow]
    series: list[Series]
    stacked: bool
    vertical: bool = False
    unit: str = ""
    value_label: str = "events"
    kind: str = "bars"


def bar_chart(
    rows: list[dict[str, Any]],
    *,
    x: str = "label",
    n: str = "n",
    s: str | None = None,
    stacked: bool = True,
    keep_order: bool = False,
    label_of: Callable[[Any], str] = lambda v: "(none)" if v is None else str(v),
    row_link: Callable[[dict[str, Any]], str | None] = lambda r: None,
    segment_link: Callable[[Any, str], str | None] = lambda x, s: None,
    series_link: Callable[[str], str | None] = lambda s: None,
    value_label: str = "events",
) -> BarChart:
    """Bars from rows of ``x`` and ``n`` (and ``s``, a series: stacked or grouped bars).

    Rows keep the query's order when ``keep_order`` (an ordered dimension); otherwise the
    biggest come first and "(other)" last."""
    by_x: dict[Any, dict[str, float]] = {}
    first_row: dict[Any, dict[str, Any]] = {}
    totals: dict[str, float] = {}
    for r in rows:
        key = r.get(x)
        series = str(r[s]) if s else ""
        value = float(r.get(n) or 0)
        by_x.setdefault(key, {})
        by_x[key][series] = by_x[key].get(series, 0) + value
        first_row.setdefault(key, r)
        totals[series] = totals.get(series, 0) + value
    keys = list(by_x)
    if not keep_order:
        keys.sort(key=lambda k: (label_of(k) in SPECIAL, -sum(by_x[k].values())))
    order = order_series(totals) if s else [""]
    styles = series_styles(order, totals) if s else [Series("", "", PALETTE[0], None, 0, 0)]
    for st in styles:
        st.href = series_link(st.key) if s else None
    index = {st.key: st.index for st in styles}
    if stacked or not s:
        top = max((sum(v.values()) for v in by_x.values()), default=0) or 1
    else:
        top = max((max(v.values()) for v in by_x.values() if v), default=0) or 1
    out_rows = []
    for key in keys:
        values = by_x[key]
        label = label_of(key)
        total = sum(values.values())
        segments = []
        pos = 0.0
        for st in styles:
            value = values.get(st.key, 0)
            if not value:
                continue
            w = 100 * value / top
            title = (
                f"{label} · {st.key}: {fmt_number(value)}" if s else f"{label}: {fmt_number(value)}"
            )
            segments.append(
                Segment(
                    st.index,
                    value,
                    round(pos if stacked else 0, 3),
                    round(w, 3),
                    title,
                    segment_link(key, st.key),
                    st.fill,
                )
            )
            if stacked:
                pos += w
        extra = {k: v for k, v in first_row[key].items() if k not in (x, n, s, "key")}
        title = f"{label}: {fmt_number(total)}" + "".join(
            f"\n{k}: {fmt_val(v)}" for k, v in extra.items()
        )
        out_rows.append(
            BarRow(label, short(label), total, segments, title, row_link(first_row[key]), extra)
        )
    del index
    return BarChart(out_rows, styles if s else [], stacked, value_label=value_label)


# ---------------------------------------------------------------------- time


@dataclass
class Rect:
    x: float  # percent
    w: float  # percent
    y: float  # px
    h: float  # px
    series: int
    value: float
    bucket: int
    title: str
    href: str | None = None
    fill: str = ""


@dataclass
class Tick:
    pos: float  # percent (x) or px (y)
    label: str
    anchor: str = "middle"
    odd: bool = False  # left out on narrow screens


@dataclass
class Point:
    x: float  # percent
    y: float  # px
    series: int
    title: str
    href: str | None = None
    fill: str = ""


@dataclass
class TimeChart:
    kind: str  # stacked | line | area
    height: int
    plot_top: int
    plot_bottom: int
    since: int  # epoch seconds the plot spans (for zooming by drag)
    until: int
    rects: list[Rect] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    paths: list[tuple[int, str, str]] = field(default_factory=list)  # series, d, fill/stroke
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)  # the text alternative
    unit: str = ""
    empty: bool = False


def nice_scale(value: float, ticks: int = 4) -> tuple[float, float]:
    """(top, step) for an axis from 0 to at least ``value``: a step of 1, 2 or 5 times a
    power of ten (whole numbers for counts of 4 or more) and about ``ticks`` steps."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / ticks
    power = 1.0
    while power * 10 <= raw:
        power *= 10
    while power > raw:
        power /= 10
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if value >= ticks and step < 1:
        step = 1.0
    top = step * -(-value // step)
    return top, step


def _epoch(moment: str) -> int:
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())


def _buckets(since: str, until: str, bucket: int, offset: int) -> list[int]:
    start, end = _epoch(since), _epoch(until)
    first = (start + offset) // bucket * bucket - offset
    return list(range(first, end + 1, bucket)) or [first]


def _time_label(epoch: int, bucket: int, span: float, tz: ZoneInfo) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).astimezone(tz)
    if bucket >= 86400:
        return moment.strftime("%b %d")
    if span > 86400:
        return moment.strftime("%b %d %H:%M")
    return moment.strftime("%H:%M")


def bucket_title(epoch: int, bucket: int, tz: ZoneInfo) -> str:
    start = datetime.fromtimestamp(epoch, UTC).astimezone(tz)
    return start.strftime("%Y-%m-%d %H:%M ") + (start.tzname() or "") + f" (+{_duration(bucket)})"


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def time_chart(
    rows: list[dict[str, Any]],
    *,
    since: str,
    until: str,
    bucket: int,
    tz: ZoneInfo,
    offset: int = 0,
    kind: str = "stacked",
    t: str = "t",
    s: str | None = "series",
    n: str = "n",
    unit: str = "",
    link: Callable[[int, str], str | None] = lambda t, s: None,
    series_link: Callable[[str], str | None] = lambda s: None,
) -> TimeChart:
    """Bars (stacked by series), a line or areas over time from rows of ``t`` (bar start,
    epoch s), optional ``s`` (series) and ``n``."""
    buckets = _buckets(since, until, bucket, offset)
    index = {b: i for i, b in enumerate(buckets)}
    cells: dict[tuple[int, str], float] = {}
    totals: dict[str, float] = {}
    for r in rows:
        b = int(r[t])
        if b not in index:  # a bar starting before the first shown one (range edges)
            b = min(index, key=lambda x: abs(x - b))
        key = str(r[s]) if s else ""
        value = float(r.get(n) or 0)
        cells[(b, key)] = cells.get((b, key), 0) + value
        totals[key] = totals.get(key, 0) + value
    order = order_series(totals) if s else [""]
    styles = series_styles(order, totals) if s else [Series("", "", "#D55E00", None, 0, 0)]
    if s:
        for st in styles:
            st.href = series_link(st.key)
    bottom = TIME_HEIGHT - TIME_BOTTOM
    chart = TimeChart(
        kind, TIME_HEIGHT, TIME_TOP, bottom, _epoch(since), _epoch(until) + 1, empty=not rows
    )
    chart.series = styles if s else []
    chart.unit = unit
    slot = 100 / len(buckets)
    if kind == "stacked":
        top_value = max((sum(cells.get((b, k), 0) for k in order) for b in buckets), default=0)
    else:
        top_value = max(cells.values(), default=0)
    top, step = nice_scale(top_value)
    scale = (bottom - TIME_TOP) / top
    for i, b in enumerate(buckets):
        y = float(bottom)
        row: dict[str, Any] = {"time": bucket_title(b, bucket, tz)}
        for st in styles:
            value = cells.get((b, st.key), 0)
            row[st.key or "value"] = value
            if kind != "stacked" or not value:
                continue
            h = value * scale
            y -= h
            chart.rects.append(
                Rect(
                    x=round(i * slot + slot * 0.08, 3),
                    w=round(max(slot * 0.84, 0.05), 3),
                    y=round(y, 2),
                    h=round(max(h, 0.5), 2),
                    series=st.index,
                    value=value,
                    bucket=i,
                    title=f"{bucket_title(b, bucket, tz)} · "
                    + (f"{st.key}: " if s else "")
                    + f"{fmt_number(value)}{unit}",
                    href=link(b, st.key),
                    fill=st.fill,
                )
            )
        chart.table.append(row)
    if kind in ("line", "area"):
        for st in styles:
            coords = []
            for i, b in enumerate(buckets):
                got = cells.get((b, st.key))
                if got is None and kind == "line":
                    continue
                value = got or 0
                x_pct = i * slot + slot / 2
                y_px = bottom - value * scale
                coords.append((x_pct, y_px))
                if got is not None:
                    chart.points.append(
                        Point(
                            round(x_pct, 3),
                            round(y_px, 2),
                            st.index,
                            f"{bucket_title(b, bucket, tz)} · "
                            + (f"{st.key}: " if s else "")
                            + f"{fmt_number(value)}{unit}",
                            link(b, st.key),
                            st.color,
                        )
                    )
            if not coords:
                continue
            # drawn in a 1000-wide viewBox stretched to the plot (no text inside it)
            d = "M" + " L".join(f"{x * 10:.1f},{y:.1f}" for x, y in coords)
            if kind == "area":
                d += f" L{coords[-1][0] * 10:.1f},{bottom} L{coords[0][0] * 10:.1f},{bottom} Z"
            chart.paths.append((st.index, d, st.color))
    span = (buckets[-1] - buckets[0]) + bucket
    every = max(1, math.ceil(len(buckets) / 6))
    for i, b in enumerate(buckets):
        if i % every == 0:
            odd = len(chart.xticks) % 2 == 1
            label = _time_label(b, bucket, span, tz)
            chart.xticks.append(Tick(round(i * slot + slot / 2, 3), label, odd=odd))
    if chart.xticks:
        chart.xticks[0].anchor = "start" if chart.xticks[0].pos < 6 else "middle"
        chart.xticks[-1].anchor = "end" if chart.xticks[-1].pos > 94 else "middle"
    count = round(top / step)
    for i in range(count + 1):
        y = bottom - (bottom - TIME_TOP) * i / count
        chart.yticks.append(Tick(round(y, 2), fmt_number(round(step * i, 6))))
    return chart


# ---------------------------------------------------------------------- pie


@dataclass
class Slice:
    series: int
    d: str
    value: float
    pct: float
    title: str
    href: str | None = None
    fill: str = ""


@dataclass
class PieChart:
    slices: list[Slice]
    series: list[Series]
    total: float
    donut: bool


def pie_chart(
    rows: list[dict[str, Any]],
    *,
    x: str = "label",
    n: str = "n",
    donut: bool = False,
    label_of: Callable[[Any], str] = lambda v: "(none)" if v is None else str(v),
    link: Callable[[Any], str | None] = lambda v: None,
) -> PieChart:
    """Slices (in a -1..1 viewBox) from rows of ``x`` and ``n``, biggest first."""
    values: dict[str, float] = {}
    raw: dict[str, Any] = {}
    for r in rows:
        label = label_of(r.get(x))
        values[label] = values.get(label, 0) + float(r.get(n) or 0)
        raw.setdefault(label, r.get(x))
    order = order_series(values)
    styles = series_styles(order, values)
    total = sum(values.values()) or 1
    slices = []
    angle = -math.pi / 2
    inner = 0.55 if donut else 0.0
    for st in styles:
        value = values[st.key]
        share = value / total
        st.href = link(raw[st.key])
        sweep = 2 * math.pi * share
        slices.append(
            Slice(
                st.index,
                _arc(angle, angle + sweep, inner),
                value,
                round(100 * share, 1),
                f"{st.key}: {fmt_number(value)} ({100 * share:.1f} %)",
                st.href,
                st.fill,
            )
        )
        angle += sweep
    return PieChart(slices, styles, sum(values.values()), donut)


def _arc(a0: float, a1: float, inner: float) -> str:
    if a1 - a0 >= 2 * math.pi - 1e-9:  # a whole circle: two half arcs
        mid = a0 + math.pi
        outer = _arc(a0, mid, inner) + " " + _arc(mid, a1, inner)
        return outer
    large = 1 if a1 - a0 > math.pi else 0
    x0, y0, x1, y1 = math.cos(a0), math.sin(a0), math.cos(a1), math.sin(a1)
    if not inner:
        return f"M0,0 L{x0:.4f},{y0:.4f} A1,1 0 {large} 1 {x1:.4f},{y1:.4f} Z"
    ix0, iy0, ix1, iy1 = (inner * v for v in (x0, y0, x1, y1))
    return (
        f"M{x0:.4f},{y0:.4f} A1,1 0 {large} 1 {x1:.4f},{y1:.4f} "
        f"L{ix1:.4f},{iy1:.4f} A{inner},{inner} 0 {large} 0 {ix0:.4f},{iy0:.4f} Z"
    )


# ---------------------------------------------------------------------- heat map


@dataclass
class Cell:
    value: float
    level: int  # 0 (none) .. HEAT_LEVELS
    title: str
    href: str | None = None


@dataclass
class HeatMap:
    xs: list[str]
    ys: list[str]
    cells: list[list[Cell]]  # by y, then x
    top: float
    x_label: str
    y_label: str


def heat_map(
    rows: list[dict[str, Any]],
    *,
    x: str = "x",
    y: str = "y",
    n: str = "n",
    x_keys: list[Any] | None = None,
    y_keys: list[Any] | None = None,
    label_x: Callable[[Any], str] = str,
    label_y: Callable[[Any], str] = str,
    link: Callable[[Any, Any], str | None] = lambda x, y: None,
    x_label: str = "",
    y_label: str = "",
) -> HeatMap:
    """A grid of counts: rows of ``x``, ``y`` and ``n``; darker is more."""
    grid: dict[tuple[Any, Any], float] = {}
    for r in rows:
        key = (r.get(x), r.get(y))
        grid[key] = grid.get(key, 0) + float(r.get(n) or 0)
    xs = x_keys if x_keys is not None else _by_total(grid, 0)
    ys = y_keys if y_keys is not None else _by_total(grid, 1)
    top = max(grid.values(), default=0) or 1
    cells = []
    for yk in ys:
        line = []
        for xk in xs:
            value = grid.get((xk, yk), 0)
            level = 0 if not value else max(1, math.ceil(HEAT_LEVELS * value / top))
            title = f"{label_y(yk)} · {label_x(xk)}: {fmt_number(value)}"
            line.append(Cell(value, level, title, link(xk, yk) if value else None))
        cells.append(line)
    return HeatMap([label_x(v) for v in xs], [label_y(v) for v in ys], cells, top, x_label, y_label)


def _by_total(grid: dict[tuple[Any, Any], float], axis: int) -> list[Any]:
    totals: dict[Any, float] = {}
    for key, value in grid.items():
        totals[key[axis]] = totals.get(key[axis], 0) + value
    return sorted(totals, key=lambda k: (str(k) in SPECIAL, -totals[k], str(k)))


# ---------------------------------------------------------------------- text


def fmt_number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def fmt_val(value: Any) -> str:
    """A cell's text: numbers with separators, nested values as compact JSON."""
    import orjson

    from trailscope.export import _default

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.2f}" if not value.is_integer() else str(int(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=_default, option=orjson.OPT_NAIVE_UTC).decode()
    return str(value)


def heading(column: str) -> str:
    """A column name as a tile heading: 'error_rate_pct' -> 'Error rate %'."""
    words = column.replace("_pct", " %").replace("_", " ").split()
    words = ["IPs" if w == "ips" else "MFA" if w == "mfa" else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def patterns(series: list[Series]) -> list[tuple[str, str, str]]:
    """The SVG patterns these series need: (id, kind, colour)."""
    seen = {}
    for st in series:
        if st.pattern:
            seen[f"pat-{st.pattern}-{st.color[1:]}"] = (st.pattern, st.color)
    return [(k, p, c) for k, (p, c) in seen.items()]
