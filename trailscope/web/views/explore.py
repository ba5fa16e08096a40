"""``/explore``: build any view (dimension, metric, split, chart) over the filter bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from trailscope.decode.schema import EVENT_FIELDS, Kind
from trailscope.errors import TrailscopeError
from trailscope.web.downloads import download_response, download_rows
from trailscope.web.drills import is_filter_key
from trailscope.web.explore import CHARTS, CLASSICS, Spec, build_sql, inline
from trailscope.web.fields import TIME_UNITS
from trailscope.web.filters import bucket_seconds
from trailscope.web.panels import explore_chart
from trailscope.web.saving import panel_yaml, save_panel
from trailscope.web.sqlwords import WORDS
from trailscope.web.views.base import Call, Page, View


def suggestions() -> list[str]:
    """Dimensions offered in the form's list (any other valid one can be typed)."""
    out = [
        "time",
        *(f"time:{u}" for u in ("minute", "hour", "day", "week", "month")),
        "hour",
        "weekday",
    ]
    out += [w for w in WORDS if w != "bucket"]

    def walk(fields: Any, prefix: str) -> None:
        for f in fields:
            if f.kind is Kind.STRUCT:
                walk(f.children, f"{prefix}{f.name}.")
            elif f.kind in (Kind.STR, Kind.BOOL):
                out.append(prefix + f.name)
            elif f.kind is Kind.JSON and not prefix:
                out.append(f.name + ".")

    walk(EVENT_FIELDS, "")
    out += ["requestparameters.bucketName", "requestparameters.instanceType",
            "requestparameters.roleArn", "requestparameters.userName",
            "responseelements.ConsoleLogin", "additionaleventdata.MFAUsed"]  # fmt: skip
    return out


class ExploreView(View):
    """``/explore`` and ``/explore.json``."""

    heavy = True

    def run(self, call: Call) -> tuple[Spec, Any, dict[str, Any], Any, int, str, dict[str, Any]]:
        filters = self.site.filters(call.query)
        spec = Spec.from_query(call.query, call.items)
        sql, extra = build_sql(spec, filters.where())
        bucket = bucket_seconds(filters.seconds())
        params = {**filters.params(), **extra, "bucket": bucket}
        result = self.site.view.query(sql, params)
        return spec, filters, params, result, bucket, sql, extra

    def page(self, call: Call) -> Page:
        spec, filters, params, result, bucket, sql, _ = self.run(call)
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        data = {
            "spec": spec.to_json(),
            "title": spec.describe(),
            "filters": filters.to_json(),
            "sql": sql,
            "params": used,
            "engine_sql": result.sql,
            "columns": result.columns,
            "rows": result.rows,
            "ms": round(result.ms, 1),
        }
        items = spec.query_items()
        filters.extra = {}
        context = {
            "data": data,
            "spec": spec,
            "filters": filters,
            "chart": explore_chart(spec, result.rows, filters, bucket),
            "charts": CHARTS,
            "units": ["auto", *TIME_UNITS, "month"],
            "suggestions": suggestions(),
            "classics": [
                (title, filters.link("/explore", keep_extra=False, more=[*q.items(), *f]))
                for title, q, f in CLASSICS.values()
            ],
            "workbench_url": "/workbench?" + urlencode({"sql": inline(sql, used)}),
            "json_url": filters.link("/explore.json", more=items),
            "csv_url": filters.link("/explore.csv", more=items),
            "here": "/explore",
            "spec_items": items,
            "panel_yaml": panel_yaml(spec),
            "user_dashboards": sorted(self.site.registry.user),
            "can_save": self.site.settings.dashboards_dir is not None,
            "accounts": self.site.view.info().accounts,
            "regions": self.site.view.info().regions,
        }
        return Page(data, "explore.html", context)


class ExploreDownload(View):
    """``/explore.csv`` (and ``.ndjson``): the view's whole result."""

    heavy = True

    def page(self, call: Call) -> Page:
        filters = self.site.filters(call.query)
        spec = Spec.from_query(call.query, call.items)
        sql, extra = build_sql(spec, filters.where())
        params = {**filters.params(), **extra, "bucket": bucket_seconds(filters.seconds())}
        body = download_rows(self.site.view, sql, params, call.fmt)
        return Page({}, response=download_response(body, "explore", call.fmt))


class ExploreSave(View):
    """``POST /explore/add``: add the view to a dashboard file in ``--dashboards DIR``."""

    def page(self, call: Call) -> Page:
        form = call.form
        own = [(k, v) for k, v in form.items() if not is_filter_key(k)]
        spec = Spec.from_query(form, own + _repeated(form))
        folder = self.site.settings.dashboards_dir
        target = (form.get("dashboard") or "").strip()
        title = (form.get("panel_title") or spec.describe()).strip()[:200]
        snippet = panel_yaml(spec, title)
        if folder is None:
            raise TrailscopeError(
                "this server has no dashboards folder to write to",
                hint="start it with --dashboards DIR, or paste the YAML below into a file",
            )
        path = save_panel(Path(folder), target, spec, title, form.get("width") or "half")
        self.site.registry.refresh()
        data = {"saved": str(path), "dashboard": path.stem, "yaml": snippet}
        context = {"data": data, "here": "/explore"}
        return Page(data, "saved.html", context)


def _repeated(form: dict[str, str]) -> list[tuple[str, str]]:
    """Filters arrive as one text field in the save form: ``key=value`` per line."""
    out = []
    for line in (form.get("filters") or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() and value:
            out.append((key.strip(), value))
    return out
