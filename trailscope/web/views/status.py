"""``/status``: the lake itself; and the small routes (home, favicon)."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

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
        }
        context = {"data": data, "nav": "status", "json_url": "/status.json"}
        return Page(data, "status.html", context)


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
