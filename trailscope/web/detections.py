"""The Detections page: the bundled rules over the filter bar's time range.

Rules run through the web app's locked-down engine (they are Athena SQL like everything else)
and their findings are kept until the lake gets a new commit, like dashboard data. The
account, region and principal filters narrow the findings; every finding links to its events.
"""

from __future__ import annotations

import threading
from typing import Any

from trailscope.web.filters import Filters
from trailscope.web.lakeview import LakeView
from trailscope.web.pages import event_link

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Any] = {}


def detections_data(view: LakeView, filters: Filters) -> dict[str, Any]:
    """What the page shows, and exactly what its JSON twin returns."""
    from trailscope.detect import run_detections

    since, until = filters.resolved_since, filters.resolved_until
    with view.engine() as engine:
        key = (id(view), view._version, since, until)
        with _lock:
            report = _cache.get(key)
        if report is None:
            report = run_detections(view.lake, since=since, until=until, engine=engine)
            with _lock:
                _cache.clear()  # one lake version at a time
                _cache[key] = report
    findings = [
        f.to_json()
        for f in sorted(report.findings, key=lambda f: (-f.severity, f.first_seen or ""))
        if _matches(f, filters)
    ]
    for finding in findings:
        finding["links"] = [event_link(e, None) for e in finding["event_ids"][:10]]
    counts: dict[str, int] = {}
    for finding in findings:  # already most severe first, so the counts are in that order
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    return {
        "since": since,
        "until": until,
        "findings": findings,
        "by_severity": counts,
        "unsupported": [{"rule": str(p), "reason": r} for p, r in report.unsupported],
    }


def _matches(finding: Any, filters: Filters) -> bool:
    return (
        (not filters.account or finding.account == filters.account)
        and (not filters.region or finding.region == filters.region)
        and (not filters.principal or finding.principal == filters.principal)
    )
