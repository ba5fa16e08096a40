"""``/detections``: the detection rules over the filter bar's range, grouped by rule.

Rules run through the web app's locked-down engine (they are Athena SQL like everything else):
the built-in ones and those of ``trailscope serve --rules DIR``. Their findings are kept until
the lake changes. The account, region and principal filters and a minimum severity narrow the
findings; each rule's group opens to its findings, every one linking to its events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from trailscope.detect.model import Severity
from trailscope.errors import TrailscopeError
from trailscope.web.filters import Filters
from trailscope.web.panels import event_link
from trailscope.web.views.base import Call, Page, View

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def _matches(finding: Any, filters: Filters) -> bool:
    principal = filters.principal
    if principal and not filters.principal_exact:
        who = (finding.principal or "").lower()
        ok = principal.lower() in who
    else:
        ok = not principal or finding.principal == principal
    return (
        ok
        and (not filters.account or finding.account == filters.account)
        and (not filters.region or finding.region == filters.region)
    )


#: Detection reports kept across commits that change no event (an acknowledgement, a watch
#: recording findings or marking an alert sent): the rules would find the same again.
_KEPT_REPORTS = 8


class DetectionsView(View):
    def __init__(self, site: Any) -> None:
        super().__init__(site)
        self._reports: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._reports_lock = threading.Lock()

    def report(self, filters: Filters) -> Any:
        from trailscope.detect import run_detections

        since, until = filters.resolved_since, filters.resolved_until
        view = self.site.view
        rule_dirs = tuple(self.site.settings.rule_dirs)

        def compute(snap: Any) -> Any:
            key = (since, until, rule_dirs, tuple(snap.engine.files), self._config_text())
            with self._reports_lock:
                if key in self._reports:
                    self._reports.move_to_end(key)
                    return self._reports[key]
            with view.connection() as engine:
                report = run_detections(
                    view.lake, since=since, until=until, engine=engine, rule_dirs=rule_dirs
                )
            with self._reports_lock:
                self._reports[key] = report
                while len(self._reports) > _KEPT_REPORTS:
                    self._reports.popitem(last=False)
            return report

        return view.memo(("detections", since, until, rule_dirs), compute)

    def _config_text(self) -> bytes | None:
        """The lake's detections config as it is now (a change to it changes the report)."""
        from trailscope.detect.config import LAKE_CONFIG

        storage = self.site.lake.storage
        try:
            return storage.read_bytes(LAKE_CONFIG) if storage.exists(LAKE_CONFIG) else None
        except OSError:
            return None

    def page(self, call: Call) -> Page:
        filters = self.site.filters(call.query)
        minimum = (call.query.get("severity") or "").strip().lower()
        if minimum and minimum not in SEVERITIES:
            raise TrailscopeError(
                f"unknown severity {minimum!r}", hint="one of " + ", ".join(SEVERITIES)
            )
        floor = Severity.parse(minimum) if minimum else min(Severity)
        report = self.report(filters)
        chosen = sorted(
            (f for f in report.findings if f.severity >= floor and _matches(f, filters)),
            key=lambda f: (-f.severity, f.rule_id, f.first_seen or ""),
        )
        findings = [f.to_json() for f in chosen]
        for finding in findings:
            finding["links"] = [event_link(e, None) for e in finding["event_ids"][:10]]
        counts: dict[str, int] = {}
        groups: dict[str, dict[str, Any]] = {}
        for finding in findings:  # most severe first, so the counts are in that order
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
            group = groups.setdefault(
                finding["rule_id"],
                {
                    "rule_id": finding["rule_id"],
                    "title": finding["title"],
                    "severity": finding["severity"],
                    "mitre": finding["mitre"],
                    "findings": 0,
                    "events": 0,
                    "first_seen": finding["first_seen"],
                    "last_seen": finding["last_seen"],
                },
            )
            group["findings"] += 1
            group["events"] += finding["event_count"]
            for key, pick in (("first_seen", min), ("last_seen", max)):
                if finding[key]:
                    group[key] = pick(filter(None, [group[key], finding[key]]))
        from trailscope.web.views.findings import stored_findings

        stored = stored_findings(self.site.lake, (call.query.get("status") or "").strip() or None)
        data = {
            "stored": stored,
            "since": filters.resolved_since,
            "until": filters.resolved_until,
            "filters": filters.to_json(),
            "severity": minimum or None,
            "findings": findings,
            "rules": list(groups.values()),
            "by_severity": counts,
            "unsupported": [{"rule": str(p), "reason": r} for p, r in report.unsupported],
        }
        filters.extra = {"severity": minimum} if minimum else {}
        if stored["status"]:
            filters.extra["status"] = stored["status"]
        context = {
            "data": data,
            "filters": filters,
            "severities": SEVERITIES,
            "by_rule": {rule: [f for f in findings if f["rule_id"] == rule] for rule in groups},
            "here": "/detections",
            "json_url": filters.link("/detections.json"),
            "accounts": self.site.view.info().accounts,
            "regions": self.site.view.info().regions,
        }
        return Page(data, "detections.html", context)
