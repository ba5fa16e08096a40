"""A world view drawn on the server: country outlines as SVG paths, shaded by a count.

Equirectangular (x = longitude + 180, y = 90 - latitude, in a 360 x 170 view box that leaves
out the Antarctic), from the outlines ``countryinfo`` ships, rounded to a tenth of a degree:
no tiles, no script, no network. Countries a query names but the data has no outline for
(small islands) are still counted in the table that goes with the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from trailscope.enrich.countries import countries, country

#: Shades from the fewest to the most (the last is the top country).
SHADES = ("#dbe9f6", "#bad6eb", "#89bedc", "#539ecd", "#2b7bba", "#0b559f")
EMPTY = "#eeeeee"


@dataclass
class Area:
    code: str
    name: str
    d: str
    fill: str
    n: float
    title: str
    href: str | None = None


@dataclass
class Dot:
    """A counted country's mark at its point, so small ones are seen too."""

    x: float
    y: float
    r: float
    title: str
    href: str | None = None


@dataclass
class WorldMap:
    """What the template draws: every outline, the counted ones shaded, and a data table."""

    areas: list[Area]
    dots: list[Dot]
    rows: list[dict[str, Any]]
    total: float
    width: int = 360
    height: int = 170


@cache
def outlines() -> dict[str, str]:
    """Each country's outline as SVG path data (once per process)."""
    out = {}
    for code, c in countries().items():
        parts = []
        for polygon in c.outline:
            for ring in polygon:
                points: list[str] = []
                for lon, lat in ring:
                    if lat < -60:
                        lat = -60.0
                    p = f"{lon + 180:.1f},{90 - lat:.1f}"
                    if not points or points[-1] != p:
                        points.append(p)
                if len(points) > 2:
                    parts.append("M" + "L".join(points) + "Z")
        if parts:
            out[code] = "".join(parts)
    return out


def world_map(
    rows: list[dict[str, Any]],
    *,
    key: str = "label",
    n: str = "n",
    link: Callable[[str], str | None] = lambda code: None,
) -> WorldMap:
    """Shade each country of ``rows`` (ISO alpha-2 codes in ``key``, counts in ``n``)."""
    counts: dict[str, float] = {}
    for r in rows:
        code = str(r.get(key) or "").upper()
        if code:
            counts[code] = counts.get(code, 0) + float(r.get(n) or 0)
    top = max(counts.values(), default=0) or 1
    areas = []
    for code, d in sorted(outlines().items()):
        info = country(code)
        name = info.name if info else code
        value = counts.get(code, 0)
        if value:
            level = min(len(SHADES) - 1, int((len(SHADES) - 1) * value / top + 0.5))
            fill, title, href = SHADES[level], f"{name} ({code}): {value:,.0f}", link(code)
        else:
            fill, title, href = EMPTY, f"{name} ({code}): none", None
        areas.append(Area(code, name, d, fill, value, title, href))
    dots = []
    for code, value in sorted(counts.items(), key=lambda kv: -kv[1]):
        info = country(code)
        if info and info.latitude is not None and info.longitude is not None:
            radius = round(1.2 + 3.5 * math.sqrt(value / top), 2)
            title = f"{info.name} ({code}): {value:,.0f}"
            dots.append(Dot(info.longitude + 180, 90 - info.latitude, radius, title, link(code)))
    table = [
        {"country": code, "name": _name(code), "n": value}
        for code, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return WorldMap(areas, dots, table, sum(counts.values()))


def _name(code: str) -> str:
    info = country(code)
    return info.name if info else code
