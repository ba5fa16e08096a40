"""``/status``: the lake itself; and the small routes (home, favicon)."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from trailscope.watch.health import read_health
from trailscope.watch.metrics import CONTENT_TYPE, prometheus_text
from trailscope.web.site import HERE
from trailscope.web.views.base import Call, Page, View


class StatusView(View):
    """``/status`` and ``/status.json`` (also ``/api/status``): ``Lake.info()``, days, sources."""

    def page(self, call: Call) -> Page:
        view = self.site.view
        info = view.info()

        def days_and_sources(_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            state = view.lake.state()
            days = [
                {
                    "day": day,
                    "files": len(parts),
                    "rows": sum(p.rows for p in parts),
                    "bytes": sum(p.bytes for p in parts),
                }
                for day, parts in sorted(state.parts_by_partition().items())
            ]
            sources: dict[str, dict[str, Any]] = {}
            for obj in state.objects.values():
                where = obj.uri[: obj.uri.find("AWSLogs/")] if "AWSLogs/" in obj.uri else obj.uri
                entry = sources.setdefault(where, {"source": where, "objects": 0, "events": 0})
                entry["objects"] += 1
                entry["events"] += obj.events
            return days, sorted(sources.values(), key=lambda s: -s["objects"])

        days, sources = view.memo(("status",), days_and_sources)
        span = view.span()
        data = {
            "info": info.to_json(),
            "first_event": span.first,
            "last_event": span.latest,
            "days": days,
            "sources": sources,
            "watch": _watch(view.lake.storage),
        }
        context = {"data": data, "nav": "status", "json_url": "/status.json"}
        return Page(data, "status.html", context)


def _watch(storage: Any) -> dict[str, Any] | None:
    """The watch's health record (read on every request: it changes every cycle)."""
    health = read_health(storage)
    return health.to_json() if health is not None else None


class MetricsView(View):
    """``/metrics``: the watch's health in the Prometheus text format."""

    def page(self, call: Call) -> Page:
        text = prometheus_text(read_health(self.site.view.lake.storage))
        return Page({}, response=Response(text, media_type=CONTENT_TYPE))


class Home(View):
    def page(self, call: Call) -> Page:
        target = "/d/overview" + (f"?{call.request.url.query}" if call.request.url.query else "")
        return Page({}, response=RedirectResponse(target, status_code=307))


class Favicon(View):
    def page(self, call: Call) -> Page:
        icon = (HERE / "static" / "favicon.svg").read_bytes()
        return Page(
            {},
            response=Response(
                icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
            ),
        )
