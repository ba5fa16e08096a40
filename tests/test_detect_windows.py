"""Counts and correlations (Sigma aggregations, Sigma correlation rules, built-in bursts and
sequences) find exactly the events an independent reading of the same rules finds.

The reference here is plain Python over the raw JSON events: every event of a group opens a
window [t, t + W]; a window qualifies when it holds enough events (event_count), enough
distinct values (value_count), every step (temporal) or the steps in order (temporal_ordered);
the events of overlapping qualifying windows make one finding. The base conditions are read by
test_detect_sigma's own Sigma evaluator. Checked on the real sample events and on a synthetic
trail, for SigmaHQ's aggregation rules and for correlation rules of every type written here.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from test_detect_sigma import SIGMA, _events, _lookup, _matches, _text

from trailscope.detect import load_rules, run_detections
from trailscope.facade import Lake
from trailscope.synth import synth_trail

#: correlation rules of each type (Sigma's correlation format), over CloudTrail fields
CORRELATIONS = {
    "event-count.yml": """
title: many reads of one bucket's policy
name: policy_read
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: s3.amazonaws.com, eventName: [GetBucketPolicy, GetBucketAcl]}
  condition: sel
---
title: bucket policy read again and again
correlation:
  type: event_count
  rules: [policy_read]
  group-by: [userIdentity.arn]
  timespan: 30m
  condition: {gte: 3}
level: low
""",
    "value-count.yml": """
title: describe calls
name: describes
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName|startswith: Describe}
  condition: sel
---
title: many kinds of describe from one address
correlation:
  type: value_count
  rules: [describes]
  group-by: [sourceIPAddress]
  timespan: 15m
  condition: {gte: 3, field: eventName}
level: low
""",
    "temporal.yml": """
title: role assumed
name: assumed
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: AssumeRole}
  condition: sel
---
title: caller identity asked
name: whoami
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetCallerIdentity}
  condition: sel
---
title: role assumed and identity checked close together
correlation:
  type: temporal
  rules: [assumed, whoami]
  group-by: [recipientAccountId]
  timespan: 5m
level: low
""",
    "temporal-ordered.yml": """
title: instances listed
name: listed
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: DescribeInstances}
  condition: sel
---
title: secret read
name: secret
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetSecretValue}
  condition: sel
---
title: instances listed, then a secret read, by one principal
correlation:
  type: temporal_ordered
  rules: [listed, secret]
  group-by: [userIdentity.arn]
  timespan: 10m
level: low
""",
}


def _time(event: dict[str, Any]) -> float:
    text = str(_lookup(event, "eventTime"))[:19].replace(" ", "T")
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _reference(spec: dict[str, Any], events: list[dict[str, Any]]) -> set[frozenset[str]]:
    """The findings (as sets of event ids) of one windowed rule, read in plain Python."""
    window = spec["seconds"]
    rows = []  # (time, step, event id, group, value)
    for event in events:
        for step, condition in enumerate(spec["steps"], start=1):
            if not _matches(condition, event):
                continue
            group = tuple(_text(_lookup(event, f)) for f in spec["group_by"])
            if None in group:
                continue
            value = _text(_lookup(event, spec["field"])) if spec.get("field") else None
            if spec.get("field") and value is None:
                continue
            rows.append((_time(event), step, str(_lookup(event, "eventID")), group, value))
    by_group: dict[tuple, list] = defaultdict(list)
    for row in rows:
        by_group[row[3]].append(row)
    found = set()
    for group_rows in by_group.values():
        group_rows.sort(key=lambda r: (r[0], r[1], r[2]))
        spans = _spans(spec, group_rows, window)
        for start, end in _merged(spans):
            found.add(frozenset(r[2] for r in group_rows if start <= r[0] <= end))
    return found


def _spans(spec: dict[str, Any], rows: list, window: float) -> list[tuple[float, float]]:
    kind, need = spec["kind"], spec.get("threshold")
    if kind == "temporal_ordered":
        spans = []
        last = len(spec["steps"])
        for i, (t, step, *_rest) in enumerate(rows):
            if step != last:
                continue
            start = _chain_start(rows[:i], last - 1)
            if start is not None and t - start <= window:
                spans.append((start, t))
        return spans
    spans = []
    for t, *_rest in rows:
        inside = [r for r in rows if t <= r[0] <= t + window]
        if kind == "event_count":
            ok = len({r[2] for r in inside}) >= need
        elif kind == "value_count":
            ok = len({r[4] for r in inside}) >= need
        else:  # temporal: every step
            ok = {r[1] for r in inside} == set(range(1, len(spec["steps"]) + 1))
        if ok:
            spans.append((t, t + window))
    return spans


def _chain_start(rows: list, step: int) -> float | None:
    """The latest start of a chain of steps 1..step among ``rows`` (in order)."""
    best: dict[int, float] = {}
    for t, s, *_rest in rows:
        if s == 1:
            best[1] = t
        elif s - 1 in best:
            best[s] = max(best.get(s, best[s - 1]), best[s - 1])
    return best.get(step)


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _sigma_specs(folder: Path) -> dict[str, dict[str, Any]]:
    """The windowed rules of a folder's Sigma files, read here from the files themselves
    (pySigma parses the YAML; the meaning of the aggregation, the window and the threshold are
    read by this test), keyed by the rule id trailscope gives them."""
    specs: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yml")):
        text = path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
        if any("correlation" in d for d in docs):
            specs.update(_correlation_specs(path, text))
            continue
        spec = _legacy(docs[0])
        if spec is not None:
            specs[path.stem.lower()] = spec
    return specs


def _correlation_specs(path: Path, text: str) -> dict[str, dict[str, Any]]:
    """Sigma correlation rules: each names base rules of the same file by ``name``."""
    items = list(SigmaCollection.from_yaml(text))
    bases = {str(i.name): i for i in items if not isinstance(i, SigmaCorrelationRule)}
    out = {}
    for number, corr in enumerate(items, start=1):
        if not isinstance(corr, SigmaCorrelationRule):
            continue
        kind = corr.type.name.lower()
        steps = [bases[str(r.reference)].detection.parsed_condition[0].parsed for r in corr.rules]
        threshold = field = None
        if kind in ("event_count", "value_count"):
            op, count = corr.condition.op.name.lower(), int(corr.condition.count)
            threshold = {"gt": count + 1, "gte": count}[op]
            field = corr.condition.fieldref if kind == "value_count" else None
        rule_id = str(corr.name).lower() if corr.name else f"{path.stem.lower()}-{number}"
        out[rule_id] = {
            "kind": kind,
            "steps": steps,
            "group_by": [str(g) for g in corr.group_by or []],
            "field": field,
            "seconds": int(corr.timespan.seconds),
            "threshold": threshold,
        }
    return out


_COUNT = re.compile(r"count\((\w*)\)\s*(?:by\s+([\w.]+))?\s*(>=|>)\s*(\d+)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _legacy(doc: dict[str, Any]) -> dict[str, Any] | None:
    """A Sigma 1 rule with ``| count()``, ``| near`` or a ``timeframe`` over ANDed
    selections (both within the timeframe); None for a plain rule."""
    detection = doc["detection"]
    condition = str(detection["condition"]).strip()
    timeframe = detection.get("timeframe")
    seconds = int(timeframe[:-1]) * _UNITS[timeframe[-1]] if timeframe else None

    def step(part: str) -> Any:
        changed = json.loads(json.dumps(doc, default=str))
        changed["detection"]["condition"] = part
        changed["detection"].pop("timeframe", None)
        return SigmaCollection.from_dicts([changed]).rules[0].detection.parsed_condition[0].parsed

    spec: dict[str, Any] = {"group_by": [], "field": None, "threshold": None}
    if "|" in condition:
        left, right = (p.strip() for p in condition.split("|", 1))
        if right.startswith("near "):
            # no timeframe: "near" is read as within an hour
            parts = [left, right[len("near ") :].strip()]
            spec.update(kind="temporal", steps=[step(p) for p in parts], seconds=seconds or 3600)
            return spec
        field, by, op, n = _COUNT.match(right).groups()  # type: ignore[union-attr]
        spec.update(
            kind="value_count" if field else "event_count",
            steps=[step(left)],
            group_by=[by] if by else [],
            field=field or None,
            threshold=int(n) + 1 if op == ">" else int(n),
            seconds=seconds,
        )
        return spec
    parts = [p.strip() for p in re.split(r"\s+and\s+", condition.split("#")[0])]
    if timeframe and len(parts) > 1:
        spec.update(kind="temporal", steps=[step(p) for p in parts], seconds=seconds)
        return spec
    return None


def _engine_findings(report: Any, rule_id: str) -> set[frozenset[str]]:
    return {frozenset(f.event_ids) for f in report.findings if f.rule_id == rule_id}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("windowed-rules")
    for name, text in CORRELATIONS.items():
        (root / name).write_text(text)
    for path in (SIGMA / "unsupported").glob("*.yml"):
        (root / path.name).write_text(path.read_text())
    return root


def _lake(root: Path, events: list[dict[str, Any]]) -> Lake:
    (root / "trail").mkdir()
    (root / "trail" / "events.json").write_text(json.dumps({"Records": events}))
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    return lake


def _in_lake(lake: Lake, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = {r["eventid"] for r in lake.query("SELECT eventid FROM cloudtrail").to_pylist()}
    return [e for e in events if _lookup(e, "eventID") in kept]


def _compare(lake: Lake, events: list[dict[str, Any]], folder: Path) -> set[str]:
    specs = _sigma_specs(folder)
    assert len(specs) == 12  # 8 SigmaHQ rules with aggregations or timeframes, 4 correlations
    windowed = {r.id for r in load_rules([folder], include_builtin=False).rules if r.window}
    assert set(specs) == windowed
    together = run_detections(lake, rule_dirs=[folder], include_builtin=False)
    alone = run_detections(lake, rule_dirs=[folder], include_builtin=False, batch=False)
    assert together.unsupported == alone.unsupported == []
    fired = set()
    for rule_id, spec in specs.items():
        expected = _reference(spec, events)
        assert _engine_findings(together, rule_id) == expected, rule_id
        assert _engine_findings(alone, rule_id) == expected, rule_id
        if expected:
            fired.add(rule_id)
    return fired


@pytest.mark.slow
def test_windowed_rules_match_the_reference_on_real_events(tmp_path: Path, folder: Path) -> None:
    # panther-analysis reuses event ids across tests: each event gets its own here
    events = [{**e, "eventID": f"real-{i:04d}"} for i, e in enumerate(_events())]
    lake = _lake(tmp_path, events)
    assert len(_compare(lake, _in_lake(lake, events), folder)) >= 3  # not vacuous


@pytest.mark.slow
def test_windowed_rules_match_the_reference_on_a_synthetic_trail(
    tmp_path: Path, folder: Path
) -> None:
    synth_trail(tmp_path / "synth", events=6_000, seed=11, days=2, digests=False)
    events = []
    for path in sorted((tmp_path / "synth").rglob("*.json.gz")):
        events.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "synth"), workers=1)
    fired = _compare(lake, _in_lake(lake, events), folder)
    # every correlation type finds something here, and some SigmaHQ aggregation too
    assert {"event-count-2", "value-count-2", "temporal-3", "temporal-ordered-3"} <= fired
    assert len(fired) >= 6
