"""Folding a run's findings into the stored ones: the same activity updates, new activity adds.

A finding of the run is the same as a stored one when both come from the same rule and group
key and they share an event or lie within :data:`~trailscope.findings.ids.BUCKET` of each other
in time. Then the stored finding is updated (first and last seen widened, events joined,
severity raised) and keeps its id; otherwise the run's finding is new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trailscope.detect.model import Finding, Severity
from trailscope.findings.ids import BUCKET, bucket_of, finding_id, group_key
from trailscope.findings.store import iso, parse_iso

#: Event ids kept per finding (the count goes on; the list shows the first ones).
MAX_EVENT_IDS = 500

NEW, UPDATED, SAME = "new", "updated", "same"


@dataclass
class Merged:
    """What one finding of the run became: its id and whether it was new, updated or the
    same as what was stored."""

    finding_id: str
    outcome: str


def merge(rows: list[dict[str, Any]], findings: list[Finding], now: datetime) -> list[Merged]:
    """Update ``rows`` (stored findings, changed in place) with the run's ``findings``;
    one :class:`Merged` per finding, in the order given."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    ids = set()
    for row in rows:
        by_key.setdefault((row["rule_id"], row["group_key"]), []).append(row)
        ids.add(row["finding_id"])
    result: dict[int, Merged] = {}
    outcome_of: dict[str, str] = {}
    # earliest first, so a run that splits activity differently still starts from the same day
    for index in sorted(range(len(findings)), key=lambda i: _start(findings[i])):
        finding = findings[index]
        key = (finding.rule_id, group_key(finding))
        same = _same(by_key.get(key, []), finding)
        if same is None:
            row = _new_row(finding, key[1], now, ids)
            rows.append(row)
            by_key.setdefault(key, []).append(row)
            ids.add(row["finding_id"])
            outcome_of[row["finding_id"]] = NEW
        else:
            row = same
            if _update(row, finding, now) and outcome_of.get(row["finding_id"]) != NEW:
                outcome_of[row["finding_id"]] = UPDATED
        fid = row["finding_id"]
        result[index] = Merged(fid, outcome_of.get(fid, SAME))
    return [result[i] for i in range(len(findings))]


def _start(finding: Finding) -> tuple[str, str]:
    return (finding.first_seen or "", finding.last_seen or "")


def _same(candidates: list[dict[str, Any]], finding: Finding) -> dict[str, Any] | None:
    """The stored finding this one continues: most shared events, then the earliest."""
    best: tuple[int, str] | None = None
    chosen = None
    events = set(finding.event_ids)
    for row in candidates:
        shared = len(events.intersection(row["event_ids"] or ()))
        if not shared and not _near(row, finding):
            continue
        rank = (-shared, row["first_seen"] or "")
        if best is None or rank < best:
            best, chosen = rank, row
    return chosen


def _near(row: dict[str, Any], finding: Finding) -> bool:
    """Whether the two time ranges overlap or are less than a bucket apart."""
    if not (row["first_seen"] and row["last_seen"] and finding.first_seen and finding.last_seen):
        return row["first_seen"] == finding.first_seen  # both without times: the same bucket
    try:
        start, end = parse_iso(row["first_seen"]), parse_iso(row["last_seen"])
        f_start, f_end = parse_iso(finding.first_seen), parse_iso(finding.last_seen)
    except ValueError:
        return False
    return f_start <= end + BUCKET and f_end >= start - BUCKET


def _new_row(finding: Finding, key: str, now: datetime, taken: set[str]) -> dict[str, Any]:
    bucket = bucket_of(finding.first_seen)
    fid = finding_id(finding.rule_id, key, bucket)
    n = 1
    while fid in taken:  # a run that straddles two stored findings of one day: keep both
        n += 1
        fid = finding_id(finding.rule_id, key, f"{bucket}#{n}")
    stamp = iso(now)
    return {
        "finding_id": fid,
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity.label,
        "status": "open",
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "principal": finding.principal,
        "source_ip": finding.source_ip,
        "account": finding.account,
        "region": finding.region,
        "target": finding.target,
        "outcome": finding.outcome,
        "detail": finding.detail,
        "tactic": finding.tactic,
        "technique": finding.technique,
        "event_count": finding.event_count,
        "event_ids": sorted(finding.event_ids)[:MAX_EVENT_IDS],
        "group_key": key,
        "detected_at": stamp,
        "updated_at": stamp,
        "updates": 0,
        "status_at": stamp,
        "note": None,
        "suppression_id": None,
        "alert_seq": 0,
        "alerted_severity": None,
        "alerted_at": None,
    }


def _update(row: dict[str, Any], finding: Finding, now: datetime) -> bool:
    """Widen the stored finding by the run's; True when anything a user sees changed."""
    old_ids = set(row["event_ids"] or ())
    new_ids = set(finding.event_ids)
    union = sorted(old_ids | new_ids)
    if old_ids & new_ids or _overlaps(row, finding):
        count = max(row["event_count"] or 0, finding.event_count, len(union))
    else:  # activity the stored finding did not cover: its events add up
        count = (row["event_count"] or 0) + finding.event_count
    severity = max(Severity.parse(row["severity"]), finding.severity)
    first = _extreme(min, row["first_seen"], finding.first_seen)
    last = _extreme(max, row["last_seen"], finding.last_seen)
    changed = (
        count != row["event_count"]
        or union[:MAX_EVENT_IDS] != list(row["event_ids"] or ())
        or severity.label != row["severity"]
        or first != row["first_seen"]
        or last != row["last_seen"]
    )
    if not changed:
        return False
    row.update(
        updates=(row["updates"] or 0) + 1,
        event_count=count,
        event_ids=union[:MAX_EVENT_IDS],
        severity=severity.label,
        first_seen=first,
        last_seen=last,
        title=finding.title if finding.severity == severity else row["title"],
        detail=finding.detail or row["detail"],
        target=finding.target or row["target"],
        updated_at=iso(now),
    )
    if row["status"] == "closed":  # it came back
        row.update(status="open", status_at=iso(now))
    return True


def _extreme(pick: Any, a: str | None, b: str | None) -> str | None:
    """The earlier (``min``) or later (``max``) of two times, either of which may be missing."""
    values = [v for v in (a, b) if v]
    return pick(values) if values else None


def _overlaps(row: dict[str, Any], finding: Finding) -> bool:
    """Whether the run looked at time the stored finding already covers."""
    if not (row["first_seen"] and row["last_seen"] and finding.first_seen and finding.last_seen):
        return True
    return finding.first_seen <= row["last_seen"] and finding.last_seen >= row["first_seen"]
