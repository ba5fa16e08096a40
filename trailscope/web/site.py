"""What every page of one server shares: the lake, templates, dashboards, saved queries, settings.

The views (:mod:`trailscope.web.views`) get a :class:`Site` and nothing else, so a page can be
read without the application around it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from trailscope import Lake, __version__
from trailscope.errors import TrailscopeError
from trailscope.export import _default
from trailscope.queries import SavedQuery, load_library
from trailscope.web import charts
from trailscope.web.dashboards import Registry, load_registry
from trailscope.web.filters import COMMON_ZONES, RANGES, Filters, zone
from trailscope.web.lakeview import LakeView
from trailscope.web.limits import ClientLimiter
from trailscope.web.security import SESSION_COOKIE, Guard

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


@dataclass
class Settings:
    """How ``trailscope serve`` was started (see ``trailscope serve --help``)."""

    timeout: float = 30.0
    tz: str = "UTC"
    dashboards_dir: Path | None = None
    queries_dir: Path | None = None
    rule_dirs: list[Path] = field(default_factory=list)
    #: refresh choices offered for a live lake, in seconds (0: off, the default)
    refresh_choices: tuple[int, ...] = (0, 30, 60, 300)


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["num"] = charts.fmt_number
    env.filters["val"] = charts.fmt_val
    env.filters["heading"] = charts.heading
    env.filters["pretty"] = lambda v: orjson.dumps(
        v, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC
    ).decode()
    return env


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_NAIVE_UTC)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json_bytes(data), status_code=status, media_type="application/json", headers=headers
    )


class Site:
    """One server's shared state."""

    def __init__(
        self, lake: str | os.PathLike[str] | Lake, settings: Settings | None = None
    ) -> None:
        self.settings = settings or Settings()
        zone(self.settings.tz)  # a clear error for an unknown zone, before anything runs
        self.view = LakeView(lake, timeout=self.settings.timeout)
        self.env = templates()
        self.guard = Guard()
        self.limiter = ClientLimiter()
        self.registry: Registry = load_registry(self.settings.dashboards_dir)
        folder = self.settings.queries_dir
        if folder is not None and not folder.is_dir():
            raise TrailscopeError(
                f"no saved-queries folder at {folder}",
                hint="give --queries a folder of .sql files",
            )
        extra = [folder] if folder is not None else None
        self.library: dict[str, SavedQuery] = load_library(extra)

    @property
    def lake(self) -> Lake:
        return self.view.lake

    def filters(self, query: dict[str, str]) -> Filters:
        return Filters.from_query(query, self.view.span(), default_tz=self.settings.tz)

    def account_names(self) -> dict[str, str]:
        """Account id -> name from the lake's accounts table, once per lake version."""
        from trailscope.enrich.context import account_names

        def query(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            return self.view.query(sql, params).rows

        try:
            return self.view.memo(("account_names",), lambda _: account_names(query))
        except TrailscopeError as e:  # names are a nicety: the page works without them
            log.warning("account names not read: %s", e)
            return {}

    def csrf(self, request: Request) -> str:
        session = getattr(request.state, "session", None) or request.cookies.get(SESSION_COOKIE)
        return self.guard.token_for(session or "")

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        base = {
            "registry": self.registry,
            "ranges": [r for r in RANGES if r != "custom"],
            "zones": COMMON_ZONES,
            "default_tz": self.settings.tz,
            "refresh_choices": self.settings.refresh_choices,
            "lake_name": self.lake.root.name if self.lake.root else self.lake.location,
            "version": __version__,
            "csrf": self.csrf(request),
            "path": request.url.path,
            "zoomed": _unzoom(request),
            "account_names": self.account_names(),
        }
        html = self.env.get_template(name).render(**base, **context)
        return HTMLResponse(html, status_code=status)


def _unzoom(request: Request) -> str | None:
    """After a zoom by drag (``zoom`` holds the range before it), the address that resets it."""
    from urllib.parse import parse_qsl, urlencode

    before = request.query_params.get("zoom")
    if not before:
        return None
    keep = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("zoom", "range", "since", "until", "page")
    ]
    restored = [(k, v) for k, v in parse_qsl(before) if k in ("range", "since", "until")]
    return request.url.path + "?" + urlencode(keep + restored)
