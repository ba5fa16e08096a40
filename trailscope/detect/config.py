"""Tuning rules without editing them: a detections config file.

``detections.yml`` at the root of the lake is read by every run over that lake (``detect``,
the web page, a watch loop); ``--config FILE`` gives another one. Its shape::

    rules:
      unusual-region:                   # a rule id, or a pattern: 'aws_*'
        enabled: false
      console-login-without-mfa:
        severity: high                  # override the rule's severity
      failed-console-logins-from-one-ip:
        params: {threshold: 20, window_minutes: 5}
      access-key-created-for-another-user:
        exceptions:
          - reason: the deploy pipeline rotates service keys
            principal: "arn:aws:iam::*:role/deploy-*"   # pattern on the principal ARN
            account: ["111122223333"]                    # one or a list
            source_ip: 10.0.0.0/8                        # address or network, one or a list
            user_agent: "*Terraform*"                    # pattern
            where: "awsregion = 'eu-west-1'"             # any condition over the event
            expires: 2027-03-31                          # ignored (with a warning) after it
    exceptions:                          # for every rule
      - reason: the security team's scanner
        principal: "arn:aws:sts::*:assumed-role/SecurityAudit/*"

The parts of one exception must all hold; any exception removes the event. Exceptions are
conditions over events, applied to every event a rule looks at (so a burst rule does not count
excepted events); a rule written as a whole query can only be excepted by account, principal
or source address, on its findings.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot.errors import ParseError, TokenError

from trailscope.detect.model import DetectError, Finding, Rule, Severity
from trailscope.detect.query import finish
from trailscope.vocabulary import ACCOUNT, PRINCIPAL, SOURCE_IP, sql_string

log = logging.getLogger(__name__)

#: The name of the config file a lake may hold at its root.
LAKE_CONFIG = "detections.yml"
_RULE_KEYS = ("enabled", "severity", "params", "exceptions")
_EXCEPTION_KEYS = ("reason", "principal", "account", "source_ip", "user_agent", "where", "expires")


@dataclass(frozen=True)
class Exception_:
    """One exception: every given part must hold for an event to be left out."""

    reason: str
    principal: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    source_ip: tuple[str, ...] = ()
    user_agent: tuple[str, ...] = ()
    where: str | None = None
    expires: date | None = None

    def expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    def condition(self) -> str:
        parts = []
        if self.principal:
            parts.append(_any(f"{PRINCIPAL} LIKE {_like(p)} ESCAPE '\\'" for p in self.principal))
        if self.account:
            parts.append(f"{ACCOUNT} IN ({', '.join(sql_string(a) for a in self.account)})")
        if self.source_ip:
            parts.append(_any(_address(a) for a in self.source_ip))
        if self.user_agent:
            parts.append(_any(f"useragent LIKE {_like(p)} ESCAPE '\\'" for p in self.user_agent))
        if self.where:
            parts.append(f"({self.where})")
        return "(" + " AND ".join(parts) + ")"

    def covers(self, finding: Finding) -> bool | None:
        """Whether a finding is excepted; None when the exception needs the events."""
        if self.user_agent or self.where:
            return None
        checks = []
        if self.principal:
            who = finding.principal or ""
            checks.append(any(fnmatch.fnmatchcase(who, p) for p in self.principal))
        if self.account:
            checks.append((finding.account or "") in self.account)
        if self.source_ip:
            checks.append(any(_in(finding.source_ip, a) for a in self.source_ip))
        return all(checks)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        for name in ("principal", "account", "source_ip", "user_agent"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.where:
            out["where"] = self.where
        if self.expires:
            out["expires"] = self.expires.isoformat()
        return out


@dataclass
class RuleTuning:
    enabled: bool | None = None
    severity: Severity | None = None
    params: dict[str, Any] = field(default_factory=dict)
    exceptions: list[Exception_] = field(default_factory=list)


@dataclass
class DetectionConfig:
    """A parsed config: tuning by rule id (or pattern), and exceptions for every rule."""

    rules: dict[str, RuleTuning] = field(default_factory=dict)
    exceptions: list[Exception_] = field(default_factory=list)
    source: str = ""

    def tuning_for(self, rule_id: str) -> list[RuleTuning]:
        """The entries that name the rule: patterns first, the exact id last (it wins)."""
        patterns = [t for k, t in self.rules.items() if k != rule_id and _glob(k, rule_id)]
        exact = [self.rules[rule_id]] if rule_id in self.rules else []
        return patterns + exact


def _glob(pattern: str, rule_id: str) -> bool:
    return any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(rule_id, pattern)


def _any(parts: Any) -> str:
    items = list(parts)
    return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"


def _like(pattern: str) -> str:
    text = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sql_string(text.replace("*", "%").replace("?", "_"))


def _address(text: str) -> str:
    if "/" in text:
        return f"contains({sql_string(text)}, TRY_CAST({SOURCE_IP} AS IPADDRESS))"
    return f"{SOURCE_IP} = {sql_string(text)}"


def _in(address: str | None, network: str) -> bool:
    try:
        return ipaddress.ip_address(address or "") in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


# --------------------------------------------------------------------------- reading


def load_config(path: str | Path) -> DetectionConfig:
    """Read a config file; a mistake is reported with the file and what is wrong."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DetectError(f"cannot read the detections config {path}: {exc.strerror}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "detections config") -> DetectionConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DetectError(
            f"{source}: not valid YAML: {str(exc).splitlines()[0]}",
            hint="see 'trailscope detect --help' for the config's shape",
        ) from None
    if doc is None:
        return DetectionConfig(source=source)
    if not isinstance(doc, dict):
        raise DetectError(f"{source}: the config must be a mapping with 'rules' and 'exceptions'")
    _known(doc, ("version", "rules", "exceptions"), source)
    config = DetectionConfig(source=source)
    rules = doc.get("rules") or {}
    if not isinstance(rules, dict):
        raise DetectError(f"{source}: 'rules' must map rule ids to their tuning")
    for rule_id, spec in rules.items():
        config.rules[str(rule_id)] = _tuning(spec, f"{source}: rules.{rule_id}")
    config.exceptions = _exceptions(doc.get("exceptions"), f"{source}: exceptions")
    return config


def _known(doc: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in doc if k not in keys)
    if unknown:
        raise DetectError(f"{where}: unknown key {unknown[0]!r}", hint="known: " + ", ".join(keys))


def _tuning(spec: Any, where: str) -> RuleTuning:
    if spec is None:
        return RuleTuning()
    if not isinstance(spec, dict):
        raise DetectError(f"{where}: must be a mapping ({', '.join(_RULE_KEYS)})")
    _known(spec, _RULE_KEYS, where)
    enabled = spec.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise DetectError(f"{where}.enabled: must be true or false, not {enabled!r}")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise DetectError(f"{where}.params: must map parameter names to values")
    return RuleTuning(
        enabled=enabled,
        severity=Severity.parse(spec["severity"]) if spec.get("severity") else None,
        params={str(k): v for k, v in params.items()},
        exceptions=_exceptions(spec.get("exceptions"), f"{where}.exceptions"),
    )


def _exceptions(spec: Any, where: str) -> list[Exception_]:
    if spec is None:
        return []
    if not isinstance(spec, list):
        raise DetectError(f"{where}: must be a list of exceptions")
    return [_exception(item, f"{where}[{i}]") for i, item in enumerate(spec)]


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(str(v) for v in items)


def _exception(spec: Any, where: str) -> Exception_:
    if not isinstance(spec, dict):
        raise DetectError(f"{where}: must be a mapping ({', '.join(_EXCEPTION_KEYS)})")
    _known(spec, _EXCEPTION_KEYS, where)
    reason = str(spec.get("reason") or "").strip()
    if not reason:
        raise DetectError(f"{where}: every exception needs a 'reason'")
    if not any(spec.get(k) for k in _EXCEPTION_KEYS if k not in ("reason", "expires")):
        raise DetectError(
            f"{where}: the exception names nothing to except",
            hint="give principal, account, source_ip, user_agent or where",
        )
    for network in _strings(spec.get("source_ip")):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise DetectError(
                f"{where}.source_ip: {network!r} is not an address or network"
            ) from None
    condition = spec.get("where")
    if condition is not None:
        condition = str(condition).strip()
        try:
            sqlglot.parse_one(f"SELECT 1 FROM cloudtrail WHERE {condition}", read="trino")
        except (ParseError, TokenError) as exc:
            first = str(exc).splitlines()[0]
            raise DetectError(f"{where}.where: not a SQL condition: {first}") from None
    return Exception_(
        reason=reason,
        principal=_strings(spec.get("principal")),
        account=_strings(spec.get("account")),
        source_ip=_strings(spec.get("source_ip")),
        user_agent=_strings(spec.get("user_agent")),
        where=condition,
        expires=_date(spec.get("expires"), f"{where}.expires"),
    )


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DetectError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


# --------------------------------------------------------------------------- applying


@dataclass
class Tuned:
    """The rules as tuned, the rules left out, and what the user should know."""

    rules: list[Rule]
    disabled: list[Rule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: exceptions to apply to findings (rules written as whole queries), by rule id
    on_findings: dict[str, list[Exception_]] = field(default_factory=dict)


def apply_config(
    rules: list[Rule], config: DetectionConfig | None, *, today: date | None = None
) -> Tuned:
    """Each rule with its tuning (severity, parameters, exceptions); disabled rules apart."""
    if config is None:
        return Tuned(rules=list(rules))
    today = today or datetime.now(UTC).date()
    out = Tuned(rules=[])
    named: set[str] = set()
    for rule in rules:
        entries = config.tuning_for(rule.id)
        named.update(k for k in config.rules if k == rule.id or _glob(k, rule.id))
        enabled = next((t.enabled for t in reversed(entries) if t.enabled is not None), True)
        severity = next((t.severity for t in reversed(entries) if t.severity), None)
        params: dict[str, Any] = {}
        for entry in entries:
            params.update(entry.params)
        exceptions = [e for t in entries for e in t.exceptions] + config.exceptions
        live = []
        for exc in exceptions:
            if exc.expired(today):
                out.warnings.append(
                    f"an exception of {rule.id} expired on {exc.expires}: {exc.reason}"
                )
            else:
                live.append(exc)
        tuning: dict[str, Any] = {}
        if not enabled:
            tuning["enabled"] = False
        if severity is not None and severity != rule.severity:
            tuning["severity"] = f"{rule.severity.label} -> {severity.label}"
        if params:
            rule.bind(params)  # unknown names and bad values fail here, by rule
            tuning["params"] = params
        if live:
            tuning["exceptions"] = [e.summary() for e in live]
        tuned = rule.with_(
            severity=severity or rule.severity,
            params=tuple(
                p.__class__(p.name, p.type, p.convert(rule.id, params[p.name]), p.description)
                if p.name in params
                else p
                for p in rule.params
            ),
            tuning=tuning,
        )
        if live and tuned.query is None:
            tuned = tuned.with_(exclude=" OR ".join(e.condition() for e in live))
        elif live:
            out.on_findings[rule.id] = live
            if any(e.user_agent or e.where for e in live):
                out.warnings.append(
                    f"{rule.id} is a whole query: exceptions by user agent or condition "
                    "cannot apply to it"
                )
        finish(tuned)
        (out.rules if enabled else out.disabled).append(tuned)
    for key in config.rules:
        if key not in named:
            out.warnings.append(f"{config.source}: no rule matches {key!r}")
    return out


def suppressed(finding: Finding, exceptions: list[Exception_]) -> bool:
    return any(e.covers(finding) for e in exceptions)
