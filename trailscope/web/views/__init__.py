"""Every page of ``trailscope serve``: one view per page, each route with its JSON twin.

``/d/<name>`` and ``/d/<name>.json`` are served by the same view (as are the older
``/api/...`` addresses, kept for scripts); only the format of the answer differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailscope.web.views import findings
from trailscope.web.views.base import View
from trailscope.web.views.dashboard import DashboardList, DashboardView, PanelDownload
from trailscope.web.views.detections import DetectionsView
from trailscope.web.views.events import EventsDownload, EventsView, EventView
from trailscope.web.views.explore import ExploreDownload, ExploreSave, ExploreView
from trailscope.web.views.status import Favicon, Home, StatusView
from trailscope.web.views.workbench import (
    QueriesApi,
    QueryApi,
    WorkbenchDownload,
    WorkbenchView,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from trailscope.web.site import Site

GET = ["GET", "HEAD"]


def routes(site: Site) -> list[tuple[str, View, str, list[str]]]:
    """(path, view, format, methods) for every route; a ``.json`` twin before its page (a
    name may itself end in .json otherwise)."""
    dashboard, events, event = DashboardView(site), EventsView(site), EventView(site)
    explore, detections, status = ExploreView(site), DetectionsView(site), StatusView(site)
    workbench, query = WorkbenchView(site), QueryApi(site)
    panel, events_dl, explore_dl = PanelDownload(site), EventsDownload(site), ExploreDownload(site)
    out: list[tuple[str, View, str, list[str]]] = [
        ("/", Home(site), "html", GET),
        ("/favicon.ico", Favicon(site), "html", GET),
        ("/d/{name}/{panel}.csv", panel, "csv", GET),
        ("/d/{name}/{panel}.json", panel, "json", GET),
        ("/d/{name}.json", dashboard, "json", GET),
        ("/d/{name}", dashboard, "html", GET),
        ("/api/d/{name}", dashboard, "json", GET),
        ("/api/dashboards", DashboardList(site), "json", GET),
        ("/events.json", events, "json", GET),
        ("/events.csv", events_dl, "csv", GET),
        ("/events.ndjson", events_dl, "ndjson", GET),
        ("/events", events, "html", GET),
        ("/api/events", events, "json", GET),
        ("/event/{eventid:path}.json", event, "json", GET),
        ("/event/{eventid:path}", event, "html", GET),
        ("/api/event/{eventid:path}", event, "json", GET),
        ("/explore.json", explore, "json", GET),
        ("/explore.csv", explore_dl, "csv", GET),
        ("/explore", explore, "html", GET),
        ("/explore/add", ExploreSave(site), "html", ["POST"]),
        ("/workbench", workbench, "html", [*GET, "POST"]),
        ("/workbench/download", WorkbenchDownload(site), "csv", ["POST"]),
        ("/api/query", query, "json", ["POST"]),
        ("/api/queries", QueriesApi(site), "json", GET),
        ("/detections.json", detections, "json", GET),
        ("/detections", detections, "html", GET),
        ("/api/detections", detections, "json", GET),
        *findings.routes(site),  # stored findings: /detections/findings/<id>, its forms
        ("/status.json", status, "json", GET),
        ("/status", status, "html", GET),
        ("/api/status", status, "json", GET),
    ]
    return out


def register(app: FastAPI, site: Site) -> None:
    for path, view, fmt, methods in routes(site):
        app.add_api_route(path, view.endpoint(fmt), methods=methods, include_in_schema=False)
