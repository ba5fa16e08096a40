"""Running rules on a lake: each rule's Athena SQL goes through the same translation as any
query, on whichever engine the caller gives (DuckDB by default), and its rows become findings.

One failing rule does not stop the others: it is reported, with the engine's message, next to
the rules that could not be compiled. The tuning (``detections.yml`` in the lake, or the config
given) is applied to the rules before they run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

import duckdb

from trailscope.detect.batch import batchable, run_batch
from trailscope.detect.config import (
    LAKE_CONFIG,
    DetectionConfig,
    Exception_,
    apply_config,
    load_config,
    parse_config,
    suppressed,
)
from trailscope.detect.loader import load_rules
from trailscope.detect.model import (
    FINDING_COLUMNS,
    DetectError,
    DetectionReport,
    Finding,
    Rule,
    RuleTiming,
)
from trailscope.detect.parallel import Job, run_jobs
from trailscope.detect.query import placeholders
from trailscope.detect.window_batch import run_windowed, window_batchable
from trailscope.errors import TrailscopeError
from trailscope.vocabulary import PRINCIPAL, SOURCE_IP, sql_string

log = logging.getLogger(__name__)

#: Filter rules per shared scan: DuckDB's planning grows faster than the number of rules, so
#: several scans of a few dozen rules cost less than one of them all (docs/detections.md).
BATCH_RULES = 40

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
    config: DetectionConfig | str | os.PathLike[str] | None = None,
    lake_config: bool = True,
) -> DetectionReport:
    """Run the built-in rules and the rules in ``rule_dirs`` over ``lake`` (a Lake or a path).

    ``since``/``until`` accept what the CLI accepts ('7d', '2024-07-01', an ISO time, a
    datetime); ``params`` overrides rule parameters by rule id, e.g.
    ``{"failed-console-logins-from-one-ip": {"threshold": 5}}``; ``rule_ids`` runs only
    those rules. Findings come most severe first. With ``batch`` (the default) and DuckDB, the
    plain filter rules share one scan of the lake (same findings, see :mod:`.batch`); other
    engines get one query per rule, the form Athena and Spark run.

    ``config`` is a detections config (a path or a parsed one); without it, the lake's own
    ``detections.yml`` is used when there is one (unless ``lake_config`` is false).
    """
    ruleset = load_rules([Path(d) for d in rule_dirs], include_builtin=include_builtin)
    lk = _as_lake(lake) if engine is None else _lake_if_any(lake)
    tuning = resolve_config(config, lk if lake_config else None)
    tuned = apply_config(ruleset.rules, tuning)
    rules = tuned.rules
    if rule_ids is not None:
        wanted = list(rule_ids)
        known = {r.id: r for r in tuned.rules + tuned.disabled}
        missing = [r for r in wanted if r not in known]
        if missing:
            raise DetectError(
                f"no rule with id {missing[0]!r}", hint="see 'trailscope detect --list'"
            )
        enabled = {r.id for r in tuned.rules}
        rules = [known[r] for r in wanted if r in enabled]  # a disabled rule stays off
    params = params or {}
    unknown = sorted(set(params) - {r.id for r in rules})
    if unknown:
        raise DetectError(f"parameters given for unknown rule {unknown[0]!r}")
    report = DetectionReport(unsupported=list(ruleset.unsupported), warnings=list(tuned.warnings))
    report.since, report.until = _bound(since, end=False), _bound(until, end=True)
    if lk is not None:
        _check_window(lk, report)
    own_engine = engine is None
    if engine is None:
        engine = (lk or _as_lake(lake)).engine()
    times = {"since": report.since or EARLIEST, "until": report.until or LATEST}
    try:
        jobs = _jobs(rules, params, times, timeout, tuned.on_findings, batch=batch, engine=engine)
        failed: list[Rule] = []
        for (together, _), (part, ok) in zip(jobs, run_jobs(engine, jobs), strict=True):
            if ok:
                _merge(report, part)
            else:  # a shared scan failed: its rules run one by one, a broken one named
                failed.extend(together)
        if failed:
            retry = [_single_job(r, params, times, timeout, tuned.on_findings) for r in failed]
            for part, _ in run_jobs(engine, retry):
                _merge(report, part)
    finally:
        if own_engine:
            cast(Any, engine).close()
    report.findings.sort(key=_order)
    return report


def _check_window(lake: Any, report: DetectionReport) -> None:
    """Say when the window misses the lake or covers only part of it (the one window rule:
    :mod:`trailscope.timewindow`), so "0 findings" is never a silent miss."""
    from trailscope.timewindow import lake_span, resolve

    report.window = resolve(report.since, report.until, span=lake_span(lake))
    note = report.window.note()
    if note is not None:
        report.warnings.append(note)


def _jobs(
    rules: list[Rule],
    params: dict[str, dict[str, Any]],
    times: dict[str, str],
    timeout: float | None,
    on_findings: dict[str, list[Exception_]],
    *,
    batch: bool,
    engine: Engine,
) -> list[Job]:
    """The queries of a run: on DuckDB (with ``batch``) the shared scans of the filter rules
    and of the windowed rules, then every other rule alone."""
    jobs: list[Job] = []
    shared: set[str] = set()
    if batch and engine.name == "duckdb":
        filters = [r for r in rules if r.condition is not None and r.id not in params]
        pinned = [r for r in filters if batchable(r)]
        groups = [pinned[i : i + BATCH_RULES] for i in range(0, len(pinned), BATCH_RULES)]
        # rules that do not name their events share a scan of every event
        for together in (*groups, [r for r in filters if r not in pinned]):
            if len(together) > 1:
                jobs.append(
                    (together, partial(_run_together, rules=together, times=times, timeout=timeout))
                )
                shared.update(r.id for r in together)
        windowed = [r for r in rules if r.id not in shared and window_batchable(r)]
        if len(windowed) > 1:
            run = partial(
                _run_windowed,
                rules=windowed,
                params=params,
                times=times,
                timeout=timeout,
                on_findings=on_findings,
            )
            jobs.append((windowed, run))
            shared.update(r.id for r in windowed)
    jobs += [
        _single_job(r, params, times, timeout, on_findings) for r in rules if r.id not in shared
    ]
    return jobs


def _single_job(
    rule: Rule,
    params: dict[str, dict[str, Any]],
    times: dict[str, str],
    timeout: float | None,
    on_findings: dict[str, list[Exception_]],
) -> Job:
    def run(engine: Engine, part: DetectionReport) -> bool:
        bound = rule.bind(params.get(rule.id))
        bound.update(times)
        bound["lookback_since"] = _earlier(times["since"], rule.lookback)
        started = time.perf_counter()
        try:
            found = run_rule(engine, rule, bound, timeout=timeout)
        except TrailscopeError as exc:
            part.unsupported.append(
                (str(rule.path or rule.id), f"failed on {engine.name}: {exc.message}")
            )
            return True
        found = _keep(found, on_findings.get(rule.id), part)
        part.timings.append(RuleTiming(rule.id, time.perf_counter() - started, len(found)))
        part.findings.extend(found)
        part.rules_run += 1
        return True

    return [rule], run


def _merge(report: DetectionReport, part: DetectionReport) -> None:
    report.findings.extend(part.findings)
    report.timings.extend(part.timings)
    report.unsupported.extend(part.unsupported)
    report.rules_run += part.rules_run
    report.suppressed += part.suppressed


def _run_together(
    engine: Engine,
    report: DetectionReport,
    *,
    rules: list[Rule],
    times: dict[str, str],
    timeout: float | None,
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


def _run_windowed(
    engine: Engine,
    report: DetectionReport,
    *,
    rules: list[Rule],
    params: dict[str, dict[str, Any]],
    times: dict[str, str],
    timeout: float | None,
    on_findings: dict[str, list[Exception_]],
) -> bool:
    """The windowed rules from one scan; False (nothing recorded) if that fails."""
    bound = []
    for rule in rules:
        values = rule.bind(params.get(rule.id))
        values.update(times)
        values["lookback_since"] = _earlier(times["since"], rule.lookback)
        bound.append(values)
    started = time.perf_counter()
    try:
        tables = run_windowed(engine, rules, bound, timeout=timeout)
    except (TrailscopeError, duckdb.Error) as exc:
        log.warning("windowed rules in one scan failed (%s); running them one by one", exc)
        return False
    share = (time.perf_counter() - started) / len(rules)
    for rule, table in zip(rules, tables, strict=True):
        found = _keep(findings_of(rule, table), on_findings.get(rule.id), report)
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
    names = set(table.column_names)
    group_columns = sorted(
        (c for c in names if c.startswith("group_")), key=lambda c: int(c[6:] or 0)
    )
    out = []
    for row in table.to_pylist():
        # sorted here: engines differ in whether array_agg keeps an ORDER BY
        ids = row["event_ids"] or []
        if None in ids:
            ids = [i for i in ids if i is not None]
        ids = sorted(map(str, ids))  # in C: a rule can match most of a trail's events
        outcome = _text(row.get("outcome"))
        failed = outcome == "failure" and rule.on_failure is not None
        finding = Finding(
            rule_id=rule.id,
            title=rule.title + (" (failed attempt)" if failed else ""),
            severity=rule.on_failure if failed and rule.on_failure is not None else rule.severity,
            mitre=rule.mitre,
            first_seen=_text(row["first_seen"]),
            last_seen=_text(row["last_seen"]),
            principal=_text(row["principal"]),
            source_ip=_text(row["source_ip"]),
            account=_text(row["account"]),
            region=_text(row["region"]),
            event_count=int(row["event_count"] or 0),
            event_ids=ids,
            detail=_text(row.get("detail")),
            tactic=rule.tactic,
            technique=rule.technique,
            target=_targets(row.get("targets")),
            outcome=outcome,
            description=rule.description,
            runbook=rule.runbook,
        )
        finding.group = _group(rule, finding, row, group_columns)
        finding.activity_query = activity_query(finding)
        out.append(finding)
    return out


def _group(
    rule: Rule, finding: Finding, row: dict[str, Any], columns: list[str]
) -> dict[str, str | None]:
    """The values that, with the rule and a time bucket, identify the finding."""
    if rule.window is not None:
        names = rule.window.group_names
        return {n: _text(row.get(c)) for n, c in zip(names, columns, strict=False)}
    if rule.condition is not None:
        return {
            "principal": finding.principal,
            "source_ip": finding.source_ip,
            "account": finding.account,
            "region": finding.region,
            "outcome": finding.outcome,
        }
    return {c: _text(row.get(c)) for c in columns}


def _targets(value: Any) -> str | None:
    """The resources acted on, as one line (the first few, then how many more)."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    names = sorted({str(v) for v in items if v not in (None, "")})
    if not names:
        return None
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


#: how much time around a finding its activity query shows
ACTIVITY_MARGIN = timedelta(hours=1)


def activity_query(finding: Finding) -> str | None:
    """Athena SQL of the principal's (else the address's) events around the finding."""
    if not finding.first_seen or not finding.last_seen:
        return None
    who = finding.principal
    if who and not _is_summary(who):
        match = f"{PRINCIPAL} = {sql_string(who)}"
    elif finding.source_ip and not _is_summary(finding.source_ip):
        match = f"{SOURCE_IP} = {sql_string(finding.source_ip)}"
    else:
        return None
    start = _earlier(finding.first_seen, ACTIVITY_MARGIN)
    end = _earlier(finding.last_seen, -ACTIVITY_MARGIN)
    return (
        "SELECT eventtime, eventsource, eventname, errorcode, sourceipaddress, awsregion, "
        "recipientaccountid, eventid\nFROM cloudtrail\n"
        f"WHERE {match}\n"
        f"  AND eventtime >= {sql_string(start)} AND eventtime <= {sql_string(end)}\n"
        "ORDER BY eventtime"
    )


def _is_summary(text: str) -> bool:
    """'3 principals', '2 addresses': what a windowed rule says for several values."""
    head, _, tail = text.partition(" ")
    return head.isdigit() and tail in ("principals", "addresses", "user names", "accounts")


def _earlier(iso: str, by: timedelta) -> str:
    """``iso`` moved ``by`` earlier, in the same text form (clamped to the bounds)."""
    if not by:
        return iso
    text = iso[:19].replace(" ", "T")
    try:
        # fromisoformat: strptime's cost showed in runs with thousands of findings
        if len(text) != 19 or text[10] != "T":
            raise ValueError(text)
        when = datetime.fromisoformat(text)
    except ValueError:  # an eventtime CloudTrail did not write in its own form
        return iso
    when = when.replace(tzinfo=UTC)
    try:
        moved = when - by
    except OverflowError:
        return EARLIEST if by > timedelta(0) else LATEST
    if moved.year < 1970:
        return EARLIEST
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ")


def _keep(
    found: list[Finding], exceptions: list[Exception_] | None, report: DetectionReport
) -> list[Finding]:
    """Findings of a whole-query rule, less those its exceptions cover."""
    if not exceptions:
        return found
    kept = [f for f in found if not suppressed(f, exceptions)]
    report.suppressed += len(found) - len(kept)
    return kept


def resolve_config(
    config: DetectionConfig | str | os.PathLike[str] | None, lake: Any
) -> DetectionConfig | None:
    """The config given, else the lake's ``detections.yml`` (None when there is neither)."""
    if isinstance(config, DetectionConfig):
        return config
    if config is not None:
        return load_config(Path(config))
    storage = getattr(lake, "storage", None)
    if storage is None or not storage.exists(LAKE_CONFIG):
        return None
    text = storage.read_bytes(LAKE_CONFIG).decode("utf-8", errors="replace")
    return parse_config(text, source=f"{getattr(lake, 'location', 'lake')}/{LAKE_CONFIG}")


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
        f.outcome or "",
        f.event_ids,
    )


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


def _lake_if_any(lake: Any) -> Any:
    """The lake, when the caller runs on another engine and a lake is there to read."""
    if not isinstance(lake, str | os.PathLike):
        return lake
    if not Path(lake).expanduser().exists():
        return None
    try:
        return _as_lake(lake)
    except TrailscopeError:
        log.debug("no lake at %s to read a detections config from", lake)
        return None


def _as_lake(lake: Any) -> Any:
    if isinstance(lake, str | os.PathLike):
        from trailscope.facade import open_lake

        return open_lake(lake)
    return lake
