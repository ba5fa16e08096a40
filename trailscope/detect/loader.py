"""Reading rules: the built-in YAML detections and folders of the user's rules.

A built-in (or user) rule is one YAML file::

    id: root-console-login
    title: Root user signed in to the console
    severity: high                      # info | low | medium | high | critical
    mitre: [T1078.004]
    description: Why it matters and what to check.
    params:                             # optional; bound as :name in the SQL
      threshold: {type: int, default: 10, description: failures that make a burst}
    where: |                            # a filter: the finding query is built around it
      eventname = 'ConsoleLogin' AND useridentity.type = 'Root'
    # or  sql: |  a whole query that returns the finding columns (see FINDING_COLUMNS)
    tests:                              # examples the test suite runs on a real lake
      - expect: match                   # or no_match
        events: [{...CloudTrail event...}]

Any other YAML file with ``logsource`` and ``detection`` keys is a Sigma rule and goes to the
Sigma compiler. A file that cannot be used is reported with its path and a one-line reason,
never dropped in silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trailscope.detect.model import DetectError, Rule, RuleParam, Severity

BUILTIN_DIR = Path(__file__).parent / "rules"
RULE_SUFFIXES = (".yml", ".yaml")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PARAM_TYPES = ("int", "float", "string")

#: Who did it, in one column: an ARN when there is one, else the name CloudTrail gives.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)


def finding_sql(condition: str) -> str:
    """The query around a filter: one finding per principal, address, account and region."""
    return (
        "SELECT min(eventtime) AS first_seen,\n"
        "       max(eventtime) AS last_seen,\n"
        f"       {PRINCIPAL} AS principal,\n"
        "       sourceipaddress AS source_ip,\n"
        "       recipientaccountid AS account,\n"
        "       awsregion AS region,\n"
        "       count(*) AS event_count,\n"
        "       array_agg(eventid ORDER BY eventtime, eventid) AS event_ids\n"
        "FROM cloudtrail\n"
        "WHERE eventtime >= :since AND eventtime <= :until\n"
        f"  AND ({condition.strip()})\n"
        "GROUP BY 3, 4, 5, 6"
    )


@dataclass
class RuleSet:
    """Rules that can run, and files that cannot (path, reason)."""

    rules: list[Rule] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}


def load_rules(
    rule_dirs: list[Path] | tuple[Path, ...] = (), *, include_builtin: bool = True
) -> RuleSet:
    """Built-in rules, then each folder (recursively); a later rule replaces one of the same id."""
    chosen: dict[str, Rule] = {}
    out = RuleSet()
    if include_builtin:
        for path in sorted(BUILTIN_DIR.glob("*.yml")):
            rule = parse_rule_file(path, origin="builtin")
            chosen[rule.id] = rule
    for folder in rule_dirs:
        folder = Path(folder).expanduser()
        if not folder.exists():
            raise DetectError(f"no rules folder at {folder}", hint="give a folder of .yml files")
        paths = [folder] if folder.is_file() else sorted(_rule_files(folder))
        for path in paths:
            try:
                rule = load_rule_file(path)
            except UnsupportedRule as exc:
                out.unsupported.append((str(path), exc.reason))
                continue
            chosen[rule.id] = rule
    out.rules = list(chosen.values())
    return out


def _rule_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()]


class UnsupportedRule(Exception):
    """A rule file that cannot run here; ``reason`` is the one line a user sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_rule_file(path: Path) -> Rule:
    """A trailscope rule or a Sigma rule, told apart by their keys."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UnsupportedRule(f"cannot read the file: {exc}") from None
    except yaml.YAMLError as exc:
        raise UnsupportedRule(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise UnsupportedRule("not a rule (the YAML is not a mapping)")
    if "detection" in doc or "logsource" in doc or "correlation" in doc:
        from trailscope.detect.sigma import compile_sigma_file

        return compile_sigma_file(path)
    if "sql" in doc or "where" in doc:
        try:
            return _rule_from_doc(path, doc, origin="user")
        except DetectError as exc:
            raise UnsupportedRule(exc.message) from None
    raise UnsupportedRule("neither a trailscope rule (sql/where) nor a Sigma rule (detection)")


def parse_rule_file(path: Path, *, origin: str) -> Rule:
    """A trailscope rule; a malformed built-in is a bug, so this raises."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise DetectError(f"{path}: not a rule (the YAML is not a mapping)")
    return _rule_from_doc(path, doc, origin=origin)


def _rule_from_doc(path: Path, doc: dict[str, Any], *, origin: str) -> Rule:
    def need(key: str) -> Any:
        if key not in doc or doc[key] in (None, ""):
            raise DetectError(f"{path}: missing '{key}'")
        return doc[key]

    rule_id = str(doc.get("id") or path.stem)
    if not _ID.match(rule_id):
        raise DetectError(f"{path}: rule id {rule_id!r} must be lowercase letters, digits, '-_.'")
    if ("sql" in doc) == ("where" in doc):
        raise DetectError(f"{path}: give exactly one of 'sql' (a query) or 'where' (a filter)")
    condition = str(doc["where"]).strip() if "where" in doc else None
    sql = finding_sql(condition) if condition else str(doc["sql"]).strip().rstrip(";")
    mitre = doc.get("mitre") or []
    if isinstance(mitre, str):
        mitre = [mitre]
    params = tuple(_param(path, name, spec) for name, spec in (doc.get("params") or {}).items())
    tests = doc.get("tests") or []
    if not isinstance(tests, list):
        raise DetectError(f"{path}: 'tests' must be a list")
    return Rule(
        id=rule_id,
        title=str(need("title")),
        severity=Severity.parse(need("severity")),
        sql=sql,
        origin=origin,
        mitre=tuple(str(m).upper() for m in mitre),
        description=" ".join(str(doc.get("description") or "").split()),
        params=params,
        path=path,
        tests=tests,
        condition=condition,
    )


def _param(path: Path, name: str, spec: Any) -> RuleParam:
    if not isinstance(spec, dict) or "default" not in spec:
        raise DetectError(f"{path}: parameter {name!r} needs a mapping with 'type' and 'default'")
    typ = str(spec.get("type", "string"))
    if typ not in _PARAM_TYPES:
        raise DetectError(f"{path}: parameter {name!r} has type {typ!r}, not one of {_PARAM_TYPES}")
    return RuleParam(name, typ, spec["default"], " ".join(str(spec.get("description", "")).split()))
