"""What a detection is and what it finds: rules, findings, and the report of a run.

A rule is data (a YAML file or a compiled Sigma rule); a finding is one row of a rule's result,
in the fixed shape every output (CLI, web page, Python API) shows. Rules of both origins end up
as the same :class:`Rule`: Athena SQL with ``:since``/``:until`` and its own parameters, built
from one of three shapes (a filter, a windowed count or correlation, or a whole query).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

from trailscope.errors import TrailscopeError


class DetectError(TrailscopeError):
    """A malformed rule file, an unknown rule or severity, a bad rule parameter."""


class UnsupportedRule(Exception):
    """A rule file that cannot run here; ``reason`` is the one line a user sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Severity(IntEnum):
    """Ordered, so ``--fail-on high`` means high or critical."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Sigma's ``informational`` is accepted as ``info``."""
        name = str(text).strip().lower()
        name = {"informational": "info"}.get(name, name)
        try:
            return cls[name.upper()]
        except KeyError:
            raise DetectError(
                f"unknown severity {text!r}",
                hint="one of: " + ", ".join(s.label for s in cls),
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


#: The columns every rule's SQL returns, in this order (``detail`` may be left out).
FINDING_COLUMNS = (
    "first_seen",
    "last_seen",
    "principal",
    "source_ip",
    "account",
    "region",
    "event_count",
    "event_ids",
)
#: Columns a rule's SQL may add: what it counted, the resources acted on, the outcome of the
#: calls (``success``/``failure``) and the values of its group keys (``group_1``, ...).
OPTIONAL_COLUMNS = ("detail", "targets", "outcome")


@dataclass(frozen=True)
class RuleParam:
    """A tunable value of a rule (a threshold, a window), bound as a query parameter."""

    name: str
    type: str  # int | float | string
    default: Any
    description: str = ""

    def convert(self, rule_id: str, raw: Any) -> Any:
        try:
            if self.type == "int":
                return int(raw)
            if self.type == "float":
                return float(raw)
        except (TypeError, ValueError):
            raise DetectError(
                f"parameter {self.name} of rule {rule_id!r} must be a {self.type}, not {raw!r}"
            ) from None
        return str(raw)


@dataclass(frozen=True)
class Step:
    """One kind of event a windowed rule counts or correlates: a name and its condition."""

    name: str
    condition: str
    #: per-step expressions of the group keys (Sigma's aliases), when they differ by step
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    """A windowed rule, declared rather than written as SQL (see :mod:`.windows`).

    ``kind`` is ``event_count`` (at least ``threshold`` events within the window),
    ``value_count`` (at least ``threshold`` distinct values of ``field``), ``temporal`` (every
    step within the window, in any order) or ``temporal_ordered`` (in the steps' order).
    """

    kind: str
    steps: tuple[Step, ...]
    group_by: tuple[str, ...] = ()  # SQL expressions
    group_names: tuple[str, ...] = ()  # what each is called in a finding
    field: str | None = None  # value_count: the SQL expression whose values are counted
    field_name: str | None = None
    #: event_count: what each event counts for (a call that reads 10 parameters counts 10)
    weight: str | None = None
    #: a baseline on the first step: its events count only when the values of these keys were
    #: not seen together in the ``baseline_days`` before (and ``known_by`` was seen)
    new_for: tuple[str, ...] = ()
    known_by: tuple[str, ...] = ()
    baseline_days: int = 0

    @property
    def counts(self) -> bool:
        return self.kind in ("event_count", "value_count")


@dataclass
class Rule:
    """One detection, whatever its origin (``builtin``, ``sigma`` or ``user``).

    Exactly one of ``condition`` (a filter over single events), ``window`` (a declared count
    or correlation) or ``query`` (a whole query written by hand) gives its logic; :attr:`sql`
    is built from it, with the tuning's exclusions (``exclude``) applied to every event the
    rule looks at.
    """

    id: str
    title: str
    severity: Severity
    origin: str
    mitre: tuple[str, ...] = ()
    tactic: str | None = None
    description: str = ""
    runbook: str = ""
    params: tuple[RuleParam, ...] = ()
    path: Path | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)
    condition: str | None = None
    window: Window | None = None
    query: str | None = None
    #: SQL expression of the resource acted on (the user given a key, the bucket, the key...)
    target: str | None = None
    #: severity of a finding made of failed calls; None: failed calls are findings like any
    on_failure: Severity | None = None
    #: a condition (from the tuning) that removes events before the rule sees them
    exclude: str | None = None
    #: the tuning applied (shown by ``detect --list``)
    tuning: dict[str, Any] = field(default_factory=dict)
    #: the Athena SQL that runs (built by :func:`trailscope.detect.query.finish`)
    sql: str = ""
    #: how far before the new events a run must read for this rule's windows to be whole (a
    #: watch loop reads its new events plus this much)
    lookback: timedelta = timedelta(0)

    @property
    def kind(self) -> str:
        if self.condition is not None:
            return "filter"
        if self.window is not None:
            return self.window.kind
        return "query"

    @property
    def filter_condition(self) -> str | None:
        """The condition with the exclusions, for filter rules (what the batch scan uses)."""
        if self.condition is None:
            return None
        if not self.exclude:
            return self.condition
        return f"({self.condition}) AND NOT coalesce(({self.exclude}), false)"

    @property
    def technique(self) -> str | None:
        return self.mitre[0] if self.mitre else None

    def with_(self, **changes: Any) -> Rule:
        return replace(self, **changes)

    def bind(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``values`` (strings from the CLI are converted)."""
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise DetectError(
                f"rule {self.id!r} has no parameter {unknown[0]!r}",
                hint="its parameters: " + (", ".join(known) or "none"),
            )
        return {p.name: p.convert(self.id, values.get(p.name, p.default)) for p in self.params}

    def summary(self) -> dict[str, Any]:
        """The rule as ``--list --format json`` shows it."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.label,
            "tactic": self.tactic,
            "mitre": list(self.mitre),
            "origin": self.origin,
            "kind": self.kind,
            "description": self.description,
            "runbook": self.runbook,
            "params": [p.__dict__ for p in self.params],
            "lookback_minutes": int(self.lookback.total_seconds() // 60),
            "tuning": self.tuning,
            "path": str(self.path) if self.path else None,
            "sql": self.sql,
        }


@dataclass
class Finding:
    """Something a rule matched: who, from where, when, on what, and the events that prove it.

    The fields are stable: outputs, the web page and stored findings rely on them. ``group``
    holds the values of the rule's group keys (for a filter rule: principal, source address,
    account, region and outcome), which with the rule id and a time bucket identify a finding.
    """

    rule_id: str
    title: str
    severity: Severity
    mitre: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    principal: str | None
    source_ip: str | None
    account: str | None
    region: str | None
    event_count: int
    event_ids: list[str]
    detail: str | None = None
    tactic: str | None = None
    technique: str | None = None
    target: str | None = None
    group: dict[str, str | None] = field(default_factory=dict)
    outcome: str | None = None
    description: str = ""
    runbook: str = ""
    #: Athena SQL listing the principal's other events around the finding
    activity_query: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as plain JSON values (what ``detect --format json`` writes)."""
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "tactic": self.tactic,
            "technique": self.technique,
            "mitre": list(self.mitre),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "principal": self.principal,
            "source_ip": self.source_ip,
            "account": self.account,
            "region": self.region,
            "target": self.target,
            "outcome": self.outcome,
            "group": dict(self.group),
            "event_count": self.event_count,
            "event_ids": list(self.event_ids),
            "detail": self.detail,
            "description": self.description,
            "runbook": self.runbook,
            "activity_query": self.activity_query,
        }


@dataclass
class RuleTiming:
    rule_id: str
    seconds: float
    findings: int


@dataclass
class DetectionReport:
    """What a run found, which rules ran, and which could not (with the reason)."""

    findings: list[Finding] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)  # (rule path, reason)
    rules_run: int = 0
    timings: list[RuleTiming] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    #: findings the tuning's exceptions removed after the fact (rules written as whole queries)
    suppressed: int = 0
    warnings: list[str] = field(default_factory=list)
    #: the resolved window and how it meets the lake (a trailscope.timewindow.Window)
    window: Any = None

    def at_or_above(self, severity: Severity) -> list[Finding]:
        """The findings of ``severity`` or worse (what ``--fail-on`` tests)."""
        return [f for f in self.findings if f.severity >= severity]

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values."""
        return {
            "since": self.since,
            "until": self.until,
            "rules_run": self.rules_run,
            "findings": [f.to_json() for f in self.findings],
            "unsupported": [{"path": p, "reason": r} for p, r in self.unsupported],
            "warnings": list(self.warnings),
            "window": self.window.to_json() if self.window is not None else None,
        }
