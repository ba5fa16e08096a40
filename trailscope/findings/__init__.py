"""Findings that remember: stable ids, a status, suppressions, and alerts sent once.

A detection run (:func:`trailscope.detect.run_detections`) says what its rules matched in the
time it looked at. :func:`record_and_alert` keeps that in the lake: each finding gets a stable
id (rule, group key, day; see :mod:`.ids`), so a later run over overlapping time updates it
instead of adding a copy; suppressions (data in the lake) are applied; findings that should
alert are queued in the outbox in the same commit; then what is pending is delivered.

The tables (``findings``, ``suppressions``, ``alerts``) are side tables of the lake, so
``SELECT * FROM findings WHERE status = 'open'`` works in ``trailscope query`` and the web.
Each change is a commit under the lake's writer lock: do not hold that lock while calling in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trailscope.alerts import Destination
from trailscope.detect.model import DetectionReport, Severity
from trailscope.findings.errors import FindingsError
from trailscope.findings.merge import NEW, UPDATED, merge
from trailscope.findings.outbox import DEFAULT_BACKOFF, Backoff, alert_reason, deliver, prune, queue
from trailscope.findings.store import (
    ALERTS,
    FINDINGS,
    SUPPRESSIONS,
    Rows,
    commit_tables,
    iso,
    read_rows,
    utcnow,
)
from trailscope.findings.suppressions import first_match

__all__ = [
    "AlertCycle",
    "Backoff",
    "FindingsError",
    "Recorded",
    "deliver_pending",
    "record_and_alert",
    "record_findings",
]


@dataclass
class AlertCycle:
    """What one pass did (a watch adds these to its health record)."""

    opened: int = 0
    updated: int = 0
    suppressed: int = 0
    alerts_sent: int = 0
    alerts_queued: int = 0
    alerts_failed: int = 0

    def add(self, other: AlertCycle) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Recorded:
    """The stored id of each of the report's findings (same order) and what it became."""

    ids: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    cycle: AlertCycle = field(default_factory=AlertCycle)

    def new_indexes(self) -> list[int]:
        """Which of the report's findings were not seen before (first of each new id)."""
        seen: set[str] = set()
        out = []
        for i, (fid, outcome) in enumerate(zip(self.ids, self.outcomes, strict=True)):
            if outcome == NEW and fid not in seen:
                out.append(i)
            seen.add(fid)
        return out


def record_findings(
    lake: Any,
    report: DetectionReport,
    destinations: Sequence[Destination] = (),
    *,
    min_severity: Severity = Severity.MEDIUM,
    realert_after: timedelta | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Record the report's findings (and queue their alerts, if ``destinations``) in one
    commit; nothing is committed when the run found nothing new or changed."""
    now = utcnow(now)
    suppressions = read_rows(lake, SUPPRESSIONS)
    result = Recorded()

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows, alerts = tables[FINDINGS], tables[ALERTS]
        merged = merge(rows, report.findings, now)
        cycle = AlertCycle()
        touched: dict[str, str] = {}
        for m in merged:
            if m.outcome in (NEW, UPDATED):
                touched.setdefault(m.finding_id, m.outcome)
        by_id = {r["finding_id"]: r for r in rows}
        for fid, outcome in touched.items():
            row = by_id[fid]
            cycle.opened += outcome == NEW
            cycle.updated += outcome == UPDATED
            if _apply_suppressions(row, suppressions, now):
                cycle.suppressed += 1
                continue
            if not destinations:
                continue
            reason = alert_reason(
                row, outcome, min_severity=min_severity, realert_after=realert_after, now=now
            )
            if reason:
                queue(row, reason, destinations, alerts, now)
        result.ids = [m.finding_id for m in merged]
        result.outcomes = [m.outcome for m in merged]
        result.cycle = cycle
        if not touched:
            return {}
        return {FINDINGS: rows, ALERTS: prune(alerts, now)}

    if report.findings:
        commit_tables(lake, [FINDINGS, ALERTS], change, operation="findings")
    return result


def _apply_suppressions(row: dict[str, Any], suppressions: Rows, now: datetime) -> bool:
    """Suppress the finding when a suppression covers it (True); a finding suppressed by one
    that ended or was removed is open again."""
    match = first_match(suppressions, row, now)
    if match is not None:
        if row["status"] in ("open", "suppressed"):
            if row["status"] == "open":
                row.update(status="suppressed", status_at=iso(now))
            row["suppression_id"] = match["suppression_id"]
        return row["status"] == "suppressed"
    if row["status"] == "suppressed":
        row.update(status="open", status_at=iso(now), suppression_id=None)
    return False


def record_and_alert(
    lake: Any,
    report: DetectionReport,
    destinations: Sequence[Destination],
    *,
    min_severity: Severity = Severity.MEDIUM,
    realert_after: timedelta | None = None,
    base_url: str | None = None,
    now: datetime | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> AlertCycle:
    """Record a run's findings in the lake, queue the alerts they call for, deliver what is
    pending (new alerts and earlier ones that failed). See the module's doc for the rules."""
    recorded = record_findings(
        lake,
        report,
        destinations,
        min_severity=min_severity,
        realert_after=realert_after,
        now=now,
    )
    cycle = recorded.cycle
    cycle.add(deliver_pending(lake, destinations, now=now, base_url=base_url, backoff=backoff))
    return cycle


def deliver_pending(
    lake: Any,
    destinations: Sequence[Destination],
    *,
    now: datetime | None = None,
    base_url: str | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> AlertCycle:
    """Deliver the queued alerts that are due (a failed one waits its back-off); those for
    destinations not given stay queued."""
    done = deliver(lake, destinations, now=now, base_url=base_url, backoff=backoff)
    return AlertCycle(alerts_sent=done.sent, alerts_queued=done.queued, alerts_failed=done.failed)
