"""Chart geometry, computed on the server and drawn as inline SVG by the templates.

No chart library and no script: the page arrives with its charts drawn, tooltips are SVG
``<title>`` elements, and every label passes through the templates' HTML autoescaping (event
fields are attacker-controlled text). This module only does arithmetic; it returns plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#e15759",
)
FIXED_COLORS = {
    "Failure": "#e15759",
    "Success": "#59a14f",
    "Unknown": "#bab0ac",
    "(other)": "#bab0ac",
    "(none)": "#d4d4d4",
}
WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 10, 26


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str
    href: str | None = None


@dataclass
class Tick:
    pos: float
    label: str


@dataclass
class LegendItem:
    label: str
    color: str
    total: float
    href: str | None = None


@dataclass
class TimeChart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    points: list[tuple[float, float, str]] = field(default_factory=list)  # line: x, y, title
    polyline: str = ""
    xticks: list[Tick] = field(default_factory=list)
    yticks: list[Tick] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    plot_left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    plot_right: int = WIDTH - RIGHT
    empty: bool = False


@dataclass
class Bar:
    label: str  # shown (shortened)
    full: str  # in the tooltip
    value: float
    width: float
    y: float
    title: str
    href: str | None = None


@dataclass
class BarChart:
    width: int
    height: int
    label_width: int
    bars: list[Bar]
    row: int = 22


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


def fmt_number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _time_label(epoch: int, bucket: int, span: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if bucket >= 86400:
        return moment.strftime("%b %d")
    if span > 86400:
        return moment.strftime("%b %d %H:%M")
    return moment.strftime("%H:%M")


def _bucket_title(epoch: int, bucket: int) -> str:
    start = datetime.fromtimestamp(epoch, UTC)
    return start.strftime("%Y-%m-%d %H:%M") + f" UTC (+{_duration(bucket)})"


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _buckets(since: str, until: str, bucket: int) -> list[int]:
    start = int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp())
    end = int(datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp())
    first = start // bucket * bucket
    return list(range(first, end + 1, bucket)) or [first]


def _yticks(top: float, step: float, plot_top: float, plot_bottom: float) -> list[Tick]:
    ticks = []
    count = round(top / step)
    for i in range(count + 1):
        y = plot_bottom - (plot_bottom - plot_top) * i / count
        ticks.append(Tick(round(y, 2), fmt_number(round(step * i, 6))))
    return ticks


def _xticks(buckets: list[int], bucket: int, x_of: Callable[[int], float]) -> list[Tick]:
    span = (buckets[-1] - buckets[0]) + bucket
    every = max(1, len(buckets) // 6)
    return [
        Tick(x_of(i), _time_label(b, bucket, span)) for i, b in enumerate(buckets) if i % every == 0
    ]


def stacked_time(
    rows: list[dict[str, Any]],
    *,
    since: str,
    until: str,
    bucket: int,
    link: Callable[[int, str], str | None],
    series_link: Callable[[str], str | None],
) -> TimeChart:
    """Stacked bars from rows of ``t`` (bucket start, epoch s), ``series`` and ``n``."""
    buckets = _buckets(since, until, bucket)
    index = {b: i for i, b in enumerate(buckets)}
    totals: dict[str, float] = {}
    cells: dict[tuple[int, str], float] = {}
    for r in rows:
        t, s, n = int(r["t"]), str(r["series"]), float(r["n"] or 0)
        if t not in index:  # a bucket starting before the first shown one (range edges)
            t = min(index, key=lambda b: abs(b - t))
        cells[(t, s)] = cells.get((t, s), 0) + n
        totals[s] = totals.get(s, 0) + n
    order = sorted(totals, key=lambda s: (s in ("(other)", "(none)"), -totals[s], s))
    colors = {s: FIXED_COLORS.get(s, PALETTE[i % len(PALETTE)]) for i, s in enumerate(order)}
    chart = TimeChart(WIDTH, HEIGHT, empty=not rows)
    plot_w = WIDTH - LEFT - RIGHT
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM
    slot = plot_w / len(buckets)
    stack_max = max((sum(cells.get((b, s), 0) for s in order) for b in buckets), default=0)
    top, step = nice_scale(stack_max)
    scale = (plot_bottom - plot_top) / top

    def x_of(i: int) -> float:
        return LEFT + i * slot

    for i, b in enumerate(buckets):
        y = float(plot_bottom)
        for s in order:
            n = cells.get((b, s), 0)
            if not n:
                continue
            h = n * scale
            y -= h
            chart.rects.append(
                Rect(
                    x=round(x_of(i) + slot * 0.08, 2),
                    y=round(y, 2),
                    w=round(max(slot * 0.84, 1), 2),
                    h=round(max(h, 0.5), 2),
                    color=colors[s],
                    title=f"{_bucket_title(b, bucket)} · {s}: {fmt_number(n)}",
                    href=link(b, s),
                )
            )
    chart.yticks = _yticks(top, step, plot_top, plot_bottom)
    chart.xticks = _xticks(buckets, bucket, lambda i: x_of(i) + slot / 2)
    chart.legend = [LegendItem(s, colors[s], totals[s], series_link(s)) for s in order]
    return chart


def line_time(
    rows: list[dict[str, Any]], *, since: str, until: str, bucket: int, unit: str = ""
) -> TimeChart:
    """A line through ``value`` per bucket (``t``); buckets without events are left out."""
    buckets = _buckets(since, until, bucket)
    index = {b: i for i, b in enumerate(buckets)}
    chart = TimeChart(WIDTH, HEIGHT, empty=not rows)
    plot_w = WIDTH - LEFT - RIGHT
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM
    slot = plot_w / len(buckets)
    top, step = nice_scale(max((float(r["value"] or 0) for r in rows), default=0))

    def x_of(i: int) -> float:
        return LEFT + i * slot + slot / 2

    coords = []
    for r in rows:
        t = int(r["t"])
        if t not in index:
            continue
        value = float(r["value"] or 0)
        x = round(x_of(index[t]), 2)
        y = round(plot_bottom - (plot_bottom - plot_top) * value / top, 2)
        coords.append((x, y))
        chart.points.append((x, y, f"{_bucket_title(t, bucket)}: {fmt_number(value)}{unit}"))
    chart.polyline = " ".join(f"{x},{y}" for x, y in coords)
    chart.yticks = _yticks(top, step, plot_top, plot_bottom)
    chart.xticks = _xticks(buckets, bucket, x_of)
    return chart


def hbars(
    rows: list[dict[str, Any]],
    *,
    label: str = "label",
    value: str = "n",
    link: Callable[[dict[str, Any]], str | None] = lambda r: None,
    max_label: int = 40,
) -> BarChart:
    """Horizontal bars, longest first as the query ordered them; labels cut to fit."""
    width, label_width, row = 640, 290, 22
    top = max((float(r[value] or 0) for r in rows), default=0) or 1
    bars = []
    for i, r in enumerate(rows):
        full = "(none)" if r[label] is None else str(r[label])
        short = full if len(full) <= max_label else "…" + full[-(max_label - 1) :]
        v = float(r[value] or 0)
        extra = [f"{k}: {fmt_val(x)}" for k, x in r.items() if k not in (label, value, "key")]
        title = f"{full}: {fmt_number(v)}" + ("".join(f"\n{e}" for e in extra))
        bars.append(
            Bar(
                label=short,
                full=full,
                value=v,
                width=round((width - label_width - 60) * v / top, 2),
                y=i * row,
                title=title,
                href=link(r),
            )
        )
    return BarChart(width, max(len(bars), 1) * row + 4, label_width, bars, row)


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
