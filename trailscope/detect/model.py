"""What a detection is and what it finds: rules, findings, and the report of a run.

A rule is data (a YAML file or a compiled Sigma rule); a finding is one row of a rule's result,
in the fixed shape every output (CLI, web page, Python API) shows. Rules of both origins end up
as the same :class:`Rule`: Athena SQL with ``:since``/``:until`` and its own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from trailscope.errors import TrailscopeError


class DetectError(TrailscopeError):
    """A malformed rule file, an unknown rule or severity, a bad rule parameter."""


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
OPTIONAL_COLUMNS = ("detail",)


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


@dataclass
class Rule:
    """One detection, whatever its origin (``builtin``, ``sigma`` or ``user``)."""

    id: str
    title: str
    severity: Severity
    sql: str
    origin: str
    mitre: tuple[str, ...] = ()
    description: str = ""
    params: tuple[RuleParam, ...] = ()
    path: Path | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)
    condition: str | None = None  # the WHERE condition, for rules that are a single filter

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
            "mitre": list(self.mitre),
            "origin": self.origin,
            "description": self.description,
            "params": [p.__dict__ for p in self.params],
            "path": str(self.path) if self.path else None,
            "sql": self.sql,
        }


@dataclass
class Finding:
    """Something a rule matched: who, from where, when, and the events that prove it."""

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

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "mitre": list(self.mitre),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "principal": self.principal,
            "source_ip": self.source_ip,
            "account": self.account,
            "region": self.region,
            "event_count": self.event_count,
            "event_ids": list(self.event_ids),
            "detail": self.detail,
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

    def at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "rules_run": self.rules_run,
            "findings": [f.to_json() for f in self.findings],
            "unsupported": [{"path": p, "reason": r} for p, r in self.unsupported],
        }
