"""Running rules on a lake: each rule's Athena SQL goes through the same translation as any
query, on whichever engine the caller gives (DuckDB by default), and its rows become findings.

One failing rule does not stop the others: it is reported, with the engine's message, next to
the rules that could not be compiled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlglot import exp

from trailscope.detect.batch import batchable, run_batch
from trailscope.detect.loader import load_rules
from trailscope.detect.model import (
    FINDING_COLUMNS,
    DetectError,
    DetectionReport,
    Finding,
    Rule,
    RuleTiming,
)
from trailscope.errors import TrailscopeError

#: Bounds used when no time range is given: every ISO ``eventtime`` sorts between them.
EARLIEST = "1970-01-01T00:00:00Z"
LATEST = "9999-12-31T23:59:59Z"


class Engine(Protocol):
    name: str

    def query(self, sql: str, *, timeout: float | None = ..., params: Any = ...) -> Any: ...


def run_detections(
    lake: Any,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    rule_dirs: Iterable[str | os.PathLike[str]] = (),
    include_builtin: bool = True,
    engine: Engine | None = None,
    rule_ids: Iterable[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    timeout: float | None = None,
    batch: bool = True,
) -> DetectionReport:
    """Run the built-in rules and the rules in ``rule_dirs`` over ``lake`` (a Lake or a path).

    ``since``/``until`` accept what the CLI accepts ('7d', '2024-07-01', an ISO time, a
    datetime); ``params`` overrides rule parameters by rule id, e.g.
    ``{"failed-console-logins-from-one-ip": {"threshold": 5}}``; ``rule_ids`` runs only
    those rules. Findings come most severe first. With ``batch`` (the default) and DuckDB, the
    plain filter rules share one scan of the lake (same findings, see :mod:`.batch`); other
    engines get one query per rule, the form Athena and Spark run.
    """
    ruleset = load_rules([Path(d) for d in rule_dirs], include_builtin=include_builtin)
    rules = ruleset.rules
    if rule_ids is not None:
        wanted = list(rule_ids)
        known = ruleset.by_id()
        missing = [r for r in wanted if r not in known]
        if missing:
            raise DetectError(
                f"no rule with id {missing[0]!r}", hint="see 'trailscope detect --list'"
            )
        rules = [known[r] for r in wanted]
    params = params or {}
    unknown = sorted(set(params) - {r.id for r in rules})
    if unknown:
        raise DetectError(f"parameters given for unknown rule {unknown[0]!r}")
    report = DetectionReport(unsupported=list(ruleset.unsupported))
    report.since, report.until = _bound(since, end=False), _bound(until, end=True)
    own_engine = engine is None
    if engine is None:
        lk = _as_lake(lake)
        engine = lk.engine()
    times = {"since": report.since or EARLIEST, "until": report.until or LATEST}
    try:
        single = list(rules)
        if batch and engine.name == "duckdb":
            together = [r for r in rules if batchable(r) and r.id not in params]
            if len(together) > 1 and _run_together(engine, together, times, timeout, report):
                single = [r for r in rules if r not in together]
        for rule in single:
            bound = rule.bind(params.get(rule.id))
            bound.update(times)
            started = time.perf_counter()
            try:
                found = run_rule(engine, rule, bound, timeout=timeout)
            except TrailscopeError as exc:
                report.unsupported.append(
                    (str(rule.path or rule.id), f"failed on {engine.name}: {exc.message}")
                )
                continue
            report.timings.append(RuleTiming(rule.id, time.perf_counter() - started, len(found)))
            report.findings.extend(found)
            report.rules_run += 1
    finally:
        if own_engine:
            engine.close()  # type: ignore[attr-defined]
    report.findings.sort(key=_order)
    return report


def _run_together(
    engine: Engine,
    rules: list[Rule],
    times: dict[str, str],
    timeout: float | None,
    report: DetectionReport,
) -> bool:
    """The filter rules in one scan; False (nothing recorded) if that query fails, so each
    rule then runs alone and a broken one is reported by name."""
    started = time.perf_counter()
    try:
        tables = run_batch(engine, rules, times, timeout=timeout)
    except TrailscopeError:
        return False
    share = (time.perf_counter() - started) / len(rules)
    for rule, table in zip(rules, tables, strict=True):
        found = findings_of(rule, table)
        report.timings.append(RuleTiming(rule.id, share, len(found)))
        report.findings.extend(found)
        report.rules_run += 1
    return True


def run_rule(
    engine: Engine, rule: Rule, bound: dict[str, Any], *, timeout: float | None = None
) -> list[Finding]:
    """One rule on one engine; ``bound`` holds every parameter including since/until."""
    from trailscope.engines import prepare

    used = placeholders(rule.sql)
    values = {k: v for k, v in bound.items() if k in used}
    translation = prepare(engine.name, rule.sql, params=values)
    table = engine.query(translation.sql, timeout=timeout, params=values)
    return findings_of(rule, table)


def findings_of(rule: Rule, table: Any) -> list[Finding]:
    """A rule's result rows (the finding columns) as findings."""
    missing = [c for c in FINDING_COLUMNS if c not in table.column_names]
    if missing:
        raise DetectError(f"rule {rule.id!r} returns no column {missing[0]!r}")
    has_detail = "detail" in table.column_names
    out = []
    for row in table.to_pylist():
        # sorted here: engines differ in whether array_agg keeps an ORDER BY
        ids = sorted(str(i) for i in (row["event_ids"] or []) if i is not None)
        out.append(
            Finding(
                rule_id=rule.id,
                title=rule.title,
                severity=rule.severity,
                mitre=rule.mitre,
                first_seen=_text(row["first_seen"]),
                last_seen=_text(row["last_seen"]),
                principal=_text(row["principal"]),
                source_ip=_text(row["source_ip"]),
                account=_text(row["account"]),
                region=_text(row["region"]),
                event_count=int(row["event_count"] or 0),
                event_ids=ids,
                detail=_text(row["detail"]) if has_detail else None,
            )
        )
    return out


def _order(f: Finding) -> tuple[Any, ...]:
    """Most severe first, then by time; the rest only makes the order stable."""
    return (
        -f.severity,
        f.first_seen or "",
        f.rule_id,
        f.principal or "",
        f.source_ip or "",
        f.account or "",
        f.region or "",
    )


def placeholders(sql: str) -> set[str]:
    """The ``:name`` parameters a query uses (DuckDB refuses values for names it lacks)."""
    from trailscope.sql import parse

    return {p.name for p in parse(sql).find_all(exp.Placeholder) if p.name}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _bound(value: datetime | str | None, *, end: bool) -> str | None:
    """The ISO text that compares correctly with ``eventtime``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        from trailscope.timeparse import parse_time

        when = parse_time(str(value), end_of_day=end)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_lake(lake: Any) -> Any:
    if isinstance(lake, str | os.PathLike):
        from trailscope.facade import open_lake

        return open_lake(lake)
    return lake
