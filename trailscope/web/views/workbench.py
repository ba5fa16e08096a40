"""``/workbench``: Athena SQL and the saved-query library; ``/api/query``: its JSON twin."""

from __future__ import annotations

from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.web import charts, workbench
from trailscope.web.downloads import download_response, download_rows
from trailscope.web.security import cross_site
from trailscope.web.views.base import Call, Page, View, error_info


def _result_json(result: Any, params: dict[str, Any], limit: int) -> dict[str, Any]:
    return {
        "sql": result.sql,
        "notices": result.notices,
        "params": params,
        "columns": result.columns,
        "rows": result.rows,
        "total_rows": result.total_rows,
        "limit": limit,
        "ms": round(result.ms, 1),
    }


def chart_of(req: workbench.Request, result: Any) -> Any:
    """The workbench's chart: bars (split by a series column) or a pie of two columns."""
    cols = result.columns
    if req.chart == "none" or req.x is None or req.y is None or not {req.x, req.y} <= set(cols):
        return None
    rows = result.rows[:200]
    if req.chart == "pie":
        return charts.pie_chart(rows[:40], x=req.x, n=req.y)
    series = req.series if req.series in cols else None
    return charts.bar_chart(rows, x=req.x, n=req.y, s=series, keep_order=series is None)


class WorkbenchView(View):
    """GET shows the editor (``?q=NAME`` fills it; ``?run=1`` runs it), POST runs it."""

    heavy = True

    def page(self, call: Call) -> Page:
        form = call.form if call.request.method == "POST" else dict(call.query)
        run = call.request.method == "POST" or bool(form.get("run"))
        blocked = run and call.request.method == "GET" and cross_site(call.request)
        lib = self.site.library
        context: dict[str, Any] = {
            "library": lib,
            "form": form,
            "limit": workbench.DEFAULT_LIMIT,
            "nav": "workbench",
            "blocked": blocked,
        }
        status = 200
        data: dict[str, Any] = {}
        try:
            req = workbench.Request.from_form(form, lib)
            if not req.sql.strip() and not run:
                req.sql = workbench.DEFAULT_SQL
            context |= {"req": req, "limit": req.limit}
            if run and not blocked:
                result, params = workbench.run(self.site.view, req)
                context |= {"result": result, "params": params, "chart": chart_of(req, result)}
                data = _result_json(result, params, req.limit)
        except TrailscopeError as exc:
            context["error"] = error_info(exc)
            data = error_info(exc)
            status = 400
        return Page(data, "workbench.html", context, status)


class QueryApi(View):
    """``POST /api/query``: JSON ``{"sql", "q", "params", "limit"}`` or the form's fields."""

    heavy = True

    def page(self, call: Call) -> Page:
        req = workbench.Request.from_form(call.form, self.site.library)
        result, params = workbench.run(self.site.view, req)
        return Page(_result_json(result, params, req.limit))


class WorkbenchDownload(View):
    """``POST /workbench/download``: the whole result (not only the rows shown)."""

    heavy = True

    def page(self, call: Call) -> Page:
        fmt = call.form.get("format") or call.query.get("format") or "csv"
        req = workbench.Request.from_form(call.form, self.site.library)
        params = workbench.bind(req)
        body = download_rows(self.site.view, req.sql, params, fmt, user=True)
        name = req.saved.name if req.saved else "query"
        return Page({}, response=download_response(body, name, fmt))


class QueriesApi(View):
    """``/api/queries``: the saved-query library (built-in and ``--queries DIR``)."""

    def page(self, call: Call) -> Page:
        return Page([workbench.saved_query_json(q) for q in self.site.library.values()])
