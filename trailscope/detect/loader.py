"""Reading rules: the built-in YAML detections and folders of the user's rules.

A built-in (or user) rule is one YAML file::

    id: root-console-login
    title: Root user signed in to the console
    severity: high                      # info | low | medium | high | critical
    tactic: initial-access              # ATT&CK tactic (see trailscope.detect.attack)
    mitre: [T1078.004]                  # ATT&CK techniques, the main one first
    description: Why it matters.
    runbook: What to check, how to contain.
    target: json_extract_scalar(requestparameters, '$.userName')   # the resource acted on
    on_failure: low                     # failed calls: a separate, lower finding (or: ignore)
    where: |                            # a filter over single events ...
      eventname = 'ConsoleLogin' AND useridentity.type = 'Root'
    # ... or a declared window (counts and correlations, see trailscope.detect.windows):
    # window: {kind: event_count, where: ..., group_by: [principal], threshold: 10, minutes: 10}
    # ... or (own rules only) sql: a whole query that returns the finding columns
    tests:                              # examples the test suite runs on a real lake
      - expect: match                   # or no_match
        events: [{...CloudTrail event...}]

Any other YAML file with ``logsource`` and ``detection`` (or ``correlation``) keys is a Sigma
rule and goes to the Sigma compiler. A file that cannot be used is reported with its path and a
one-line reason, never dropped in silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trailscope.detect import attack
from trailscope.detect.model import (
    DetectError,
    Rule,
    RuleParam,
    Severity,
    Step,
    UnsupportedRule,
    Window,
)
from trailscope.detect.query import finish
from trailscope.vocabulary import expand, named

#: libyaml's parser when PyYAML has it (several times faster on a folder of rules)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BUILTIN_DIR = Path(__file__).parent / "rules"
RULE_SUFFIXES = (".yml", ".yaml")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PARAM_TYPES = ("int", "float", "string")
_WINDOW_KINDS = ("event_count", "value_count", "temporal", "temporal_ordered")
_LOGIC_KEYS = ("where", "window", "sql")


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
        for rule in builtin_rules():
            chosen[rule.id] = rule
    for folder in rule_dirs:
        folder = Path(folder).expanduser()
        if not folder.exists():
            raise DetectError(f"no rules folder at {folder}", hint="give a folder of .yml files")
        paths = [folder] if folder.is_file() else sorted(_rule_files(folder))
        for path in paths:
            try:
                rules = load_rule_file(path)
            except UnsupportedRule as exc:
                out.unsupported.append((str(path), exc.reason))
                continue
            for rule in rules:
                chosen[rule.id] = rule
    out.rules = list(chosen.values())
    return out


_BUILTIN: list[Rule] = []


def builtin_rules() -> list[Rule]:
    """The rules shipped with trailscope (read once; callers get copies they may tune)."""
    if not _BUILTIN:
        _BUILTIN.extend(
            parse_rule_file(p, origin="builtin") for p in sorted(BUILTIN_DIR.glob("*.yml"))
        )
    return [finish(r.with_()) for r in _BUILTIN]


def _rule_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()]


def load_rule_file(path: Path) -> list[Rule]:
    """The rules of one file: a trailscope rule, or the Sigma rules (and correlations) in it."""
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise UnsupportedRule(f"cannot read the file: {exc}") from None
    except yaml.YAMLError as exc:
        raise UnsupportedRule(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise UnsupportedRule("not a rule (the YAML is not a mapping)")
    if any("detection" in d or "logsource" in d or "correlation" in d for d in docs):
        from trailscope.detect.sigma_windows import compile_sigma_text

        return compile_sigma_text(text, path)
    doc = docs[0]
    if any(k in doc for k in _LOGIC_KEYS):
        try:
            return [finish(_rule_from_doc(path, doc, origin="user"))]
        except DetectError as exc:
            raise UnsupportedRule(exc.message) from None
    raise UnsupportedRule(
        "neither a trailscope rule (sql/where/window) nor a Sigma rule (detection)"
    )


def parse_rule_file(path: Path, *, origin: str) -> Rule:
    """A trailscope rule; a malformed built-in is a bug, so this raises."""
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    if not isinstance(doc, dict):
        raise DetectError(f"{path}: not a rule (the YAML is not a mapping)")
    return finish(_rule_from_doc(path, doc, origin=origin))


def _rule_from_doc(path: Path, doc: dict[str, Any], *, origin: str) -> Rule:
    def need(key: str) -> Any:
        if key not in doc or doc[key] in (None, ""):
            raise DetectError(f"{path}: missing '{key}'")
        return doc[key]

    rule_id = str(doc.get("id") or path.stem)
    if not _ID.match(rule_id):
        raise DetectError(f"{path}: rule id {rule_id!r} must be lowercase letters, digits, '-_.'")
    if sum(k in doc for k in _LOGIC_KEYS) != 1:
        raise DetectError(
            f"{path}: give exactly one of 'where' (a filter), 'window' (a count or "
            "correlation) or 'sql' (a query)"
        )
    mitre = doc.get("mitre") or []
    if isinstance(mitre, str):
        mitre = [mitre]
    techniques = tuple(str(m).upper() for m in mitre)
    tactic = doc.get("tactic")
    if tactic is not None:
        tactic = attack.check_tactic(str(tactic), techniques, where=str(path))
    elif techniques:
        tactic = attack.main_tactic(techniques)
    params = {name: _param(path, name, spec) for name, spec in (doc.get("params") or {}).items()}
    tests = doc.get("tests") or []
    if not isinstance(tests, list):
        raise DetectError(f"{path}: 'tests' must be a list")
    window = None
    if "window" in doc:
        window, defaults = _window(path, doc["window"])
        for name, (value, text) in defaults.items():
            params.setdefault(name, RuleParam(name, "int", value, text))
    on_failure = doc.get("on_failure")
    condition = _expand(path, str(doc["where"]).strip()) if "where" in doc else None
    if on_failure == "ignore" and condition is not None:
        condition = f"({condition})\nAND (errorcode IS NULL OR errorcode = '')"
    return Rule(
        id=rule_id,
        title=str(need("title")),
        severity=Severity.parse(need("severity")),
        origin=origin,
        mitre=techniques,
        tactic=tactic,
        description=" ".join(str(doc.get("description") or "").split()),
        runbook=str(doc.get("runbook") or "").strip(),
        params=tuple(params.values()),
        path=path,
        tests=tests,
        condition=condition,
        window=window,
        query=_expand(path, str(doc["sql"]).strip().rstrip(";")) if "sql" in doc else None,
        target=_expand(path, str(doc["target"]).strip()) if doc.get("target") else None,
        on_failure=Severity.parse(on_failure) if on_failure not in (None, "ignore") else None,
    )


def _expand(path: Path, text: str) -> str:
    """The rule's SQL with the vocabulary's ``${name}`` and ``${macro(sql)}`` written out."""
    try:
        return expand(text)
    except ValueError as exc:
        raise DetectError(f"{path}: {exc}") from None


def _param(path: Path, name: str, spec: Any) -> RuleParam:
    if not isinstance(spec, dict) or "default" not in spec:
        raise DetectError(f"{path}: parameter {name!r} needs a mapping with 'type' and 'default'")
    typ = str(spec.get("type", "string"))
    if typ not in _PARAM_TYPES:
        raise DetectError(f"{path}: parameter {name!r} has type {typ!r}, not one of {_PARAM_TYPES}")
    return RuleParam(name, typ, spec["default"], " ".join(str(spec.get("description", "")).split()))


def _window(path: Path, spec: Any) -> tuple[Window, dict[str, tuple[int, str]]]:
    """A declared window, and the parameters it brings (threshold, window_minutes)."""
    if not isinstance(spec, dict):
        raise DetectError(f"{path}: 'window' must be a mapping")
    kind = str(spec.get("kind", "event_count"))
    if kind not in _WINDOW_KINDS:
        raise DetectError(f"{path}: window kind {kind!r} is not one of {_WINDOW_KINDS}")
    group_names = tuple(str(g) for g in spec.get("group_by") or ())
    if "steps" in spec:
        steps = tuple(
            Step(
                str(s.get("name") or f"step {i + 1}"),
                _expand(path, str(s["where"]).strip()),
                tuple(named(str(g)) for g in s.get("group_by") or ()),
            )
            for i, s in enumerate(spec["steps"])
        )
    elif "where" in spec:
        steps = (Step("events", _expand(path, str(spec["where"]).strip())),)
    else:
        raise DetectError(f"{path}: the window needs 'where' or 'steps'")
    if kind in ("temporal", "temporal_ordered") and len(steps) < 2:
        raise DetectError(f"{path}: a {kind} window needs at least two steps")
    if kind == "value_count" and not spec.get("field"):
        raise DetectError(f"{path}: a value_count window needs the 'field' it counts")
    minutes = spec.get("minutes")
    if not isinstance(minutes, int) or minutes <= 0:
        raise DetectError(f"{path}: the window needs 'minutes', a whole number above 0")
    params: dict[str, tuple[int, str]] = {
        "window_minutes": (minutes, "length of the window in minutes")
    }
    if kind in ("event_count", "value_count"):
        threshold = spec.get("threshold")
        if not isinstance(threshold, int) or threshold <= 0:
            raise DetectError(f"{path}: the window needs 'threshold', a whole number above 0")
        noun = "distinct values" if kind == "value_count" else "events"
        params["threshold"] = (threshold, f"{noun} within the window that make a finding")
    window = Window(
        kind=kind,
        steps=steps,
        group_by=tuple(named(g) for g in group_names),
        group_names=group_names,
        field=_expand(path, named(str(spec["field"]))) if spec.get("field") else None,
        weight=_expand(path, str(spec["weight"])) if spec.get("weight") else None,
        field_name=str(spec.get("field_name") or spec.get("field") or ""),
        new_for=tuple(str(k) for k in spec.get("new_for") or ()),
        known_by=tuple(str(k) for k in spec.get("known_by") or ()),
        baseline_days=int(spec.get("baseline_days") or 0),
    )
    return window, params
