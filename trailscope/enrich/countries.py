"""Countries by ISO 3166 alpha-2 code: name, a representative point, and outline.

The data is the ``countryinfo`` package's (shipped inside it): the point is the one it
gives for the country (a rounded centre), used to place a country on the world view and to
judge how far apart two sign-ins were when no City database gives a closer place.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    latitude: float | None
    longitude: float | None
    #: polygons, each a list of rings of (longitude, latitude)
    outline: tuple[tuple[tuple[tuple[float, float], ...], ...], ...] = ()


@cache
def countries() -> dict[str, Country]:
    """Every country the data knows, by alpha-2 code (loaded once, about 0.15 s)."""
    import countryinfo

    out: dict[str, Country] = {}
    for info in countryinfo.all_countries():
        try:
            code = str(info.iso()["alpha2"]).upper()
            name = str(info.name())
            latlng = info.latlng() or []
            geo = info.geo_json() or {}
        except Exception as e:  # a malformed entry in the data: skip it, keep the rest
            log.debug("countryinfo entry skipped: %s", e)
            continue
        point = (float(latlng[0]), float(latlng[1])) if len(latlng) == 2 else (None, None)
        candidate = Country(code, name, point[0], point[1], _polygons(geo))
        kept = out.get(code)
        if kept is None or (kept.latitude is None and candidate.latitude is not None):
            out[code] = candidate
    return out


def country(code: str | None) -> Country | None:
    """The country of ``code`` (any case), or None."""
    return countries().get(code.upper()) if code else None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius) between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _polygons(geo: dict[str, Any]) -> tuple[tuple[tuple[tuple[float, float], ...], ...], ...]:
    out = []
    for feature in geo.get("features") or []:
        geometry = (feature or {}).get("geometry") or {}
        kind, coords = geometry.get("type"), geometry.get("coordinates") or []
        polys = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
        for poly in polys:
            out.append(tuple(tuple((float(x), float(y)) for x, y, *_ in ring) for ring in poly))
    return tuple(out)
