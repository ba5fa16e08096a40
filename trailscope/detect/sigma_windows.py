"""Sigma files as rules: plain rules, the old aggregation syntax, and correlation rules.

* A plain rule is one filter (:func:`trailscope.detect.sigma.compile_sigma_rule`).
* The pipe syntax of Sigma 1 (still in SigmaHQ's ``unsupported/`` folder) is read here:
  ``selection | count() > N``, ``count() by field > N`` (an event count per group),
  ``count(field) by other > N`` (a count of distinct values), and ``a | near b`` (both within
  the ``timeframe``). A ``timeframe`` with a condition that ANDs selections (``selection1 and
  selection2``) relates different events, so it is read as both happening within the
  timeframe, which is what such rules mean.
* Sigma correlation rules (``correlation:`` with ``event_count``, ``value_count``,
  ``temporal``, ``temporal_ordered``) over rules of the same file, with ``group-by``, field
  aliases and ``timespan``. As the Sigma specification says, the rules a correlation refers
  to do not run on their own unless it says ``generate: true``.

Each becomes a :class:`~trailscope.detect.model.Window`, whose SQL (:mod:`.windows`) runs on
every engine; its threshold and window are the rule's parameters, so users can tune them.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from trailscope.detect.model import Rule, RuleParam, Step, UnsupportedRule, Window
from trailscope.detect.query import finish
from trailscope.detect.sigma import (
    _first_line,
    _reason,
    compile_sigma_rule,
    sigma_condition,
    sigma_rule,
    sql_for_field,
)

#: libyaml's parser when PyYAML has it (several times faster on a folder of rules)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_COUNT = re.compile(
    r"^count\(\s*(?P<field>[\w.]*)\s*\)\s*(?:by\s+(?P<by>[\w.]+(?:\s*,\s*[\w.]+)*)\s*)?"
    r"(?P<op>>=|>|<=|<|==|=)\s*(?P<n>\d+)$",
    re.IGNORECASE,
)
_NEAR = re.compile(r"^near\s+(?P<other>.+)$", re.IGNORECASE)
_AND_OF_NAMES = re.compile(r"^\s*([\w*]+)(\s+and\s+[\w*]+)+\s*$", re.IGNORECASE)
_TIMEFRAME = re.compile(r"^(\d+)\s*([smhdM])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "M": 30 * 86400}
#: ``near`` without a timeframe: how close the events must be
DEFAULT_NEAR_MINUTES = 60


def compile_sigma_text(text: str, path: Path) -> list[Rule]:
    """Every rule a Sigma file defines (a file with correlations may hold several)."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise UnsupportedRule(f"invalid: not valid YAML: {str(exc).splitlines()[0]}") from None
    if any(isinstance(d, dict) and "correlation" in d for d in docs):
        return _correlations(text, path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise UnsupportedRule(f"invalid: expected one Sigma rule in the file, found {len(docs)}")
    doc = docs[0]
    detection = doc.get("detection")
    if isinstance(detection, dict):
        condition = detection.get("condition")
        if isinstance(condition, list) and len(condition) == 1:
            condition = condition[0]
        if isinstance(condition, str) and "|" in condition:
            return [_legacy_aggregation(doc, condition, path)]
        related = isinstance(condition, str) and _AND_OF_NAMES.match(condition)
        if "timeframe" in detection and related:
            names = [n.strip() for n in re.split(r"\s+and\s+", str(condition), flags=re.I)]
            return [_temporal(doc, names, path, ordered=False)]
    return [compile_sigma_rule(_parse_one(doc), path)]


def _parse_one(doc: dict[str, Any]) -> SigmaRule:
    try:
        rules = list(SigmaCollection.from_dicts([doc]))
    except SigmaError as exc:
        raise UnsupportedRule(_reason(exc)) from None
    if len(rules) != 1 or not isinstance(rules[0], SigmaRule):
        raise UnsupportedRule("invalid: expected one Sigma rule")
    return rules[0]


def _with_condition(doc: dict[str, Any], condition: str) -> SigmaRule:
    """The rule with another condition over its own selections (and no timeframe)."""
    changed = copy.deepcopy(doc)
    changed["detection"]["condition"] = condition
    changed["detection"].pop("timeframe", None)
    return _parse_one(changed)


def _minutes(doc: dict[str, Any], default: int | None = None) -> int:
    timeframe = (doc.get("detection") or {}).get("timeframe")
    if timeframe is None:
        if default is None:
            raise UnsupportedRule("aggregation: the rule gives no timeframe")
        return default
    return _spec_minutes(str(timeframe))


def _spec_minutes(spec: str) -> int:
    match = _TIMEFRAME.match(spec.strip())
    if not match:
        raise UnsupportedRule(f"invalid: timeframe {spec!r} is not a number and a unit (5m, 1h)")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return max(1, math.ceil(seconds / 60))


def _field(name: str) -> str:
    try:
        return sql_for_field(name)
    except SigmaError as exc:
        raise UnsupportedRule(_reason(exc)) from None


def _threshold(op: str, n: int) -> int:
    if op == ">":
        return n + 1
    if op == ">=":
        return n
    raise UnsupportedRule(f"aggregation: only '>' and '>=' thresholds can be counted ('{op}')")


def _legacy_aggregation(doc: dict[str, Any], condition: str, path: Path) -> Rule:
    left, aggregate = (part.strip() for part in condition.split("|", 1))
    near = _NEAR.match(aggregate)
    if near:
        return _temporal(doc, [left, near.group("other")], path, ordered=False, near=True)
    count = _COUNT.match(aggregate)
    if not count:
        raise UnsupportedRule(f"aggregation: cannot read '{aggregate}'")
    base = _with_condition(doc, left)
    by = [b.strip() for b in (count.group("by") or "").split(",") if b.strip()]
    field = count.group("field")
    window = Window(
        kind="value_count" if field else "event_count",
        steps=(Step(left, sigma_condition(base)),),
        group_by=tuple(_field(b) for b in by),
        group_names=tuple(by),
        field=_field(field) if field else None,
        field_name=field or None,
    )
    threshold = _threshold(count.group("op"), int(count.group("n")))
    return _windowed(base, path, path.stem.lower(), window, _minutes(doc), threshold)


def _temporal(
    doc: dict[str, Any], parts: list[str], path: Path, *, ordered: bool, near: bool = False
) -> Rule:
    rules = [_with_condition(doc, part) for part in parts]
    steps = tuple(Step(part, sigma_condition(r)) for part, r in zip(parts, rules, strict=True))
    window = Window(kind="temporal_ordered" if ordered else "temporal", steps=steps)
    minutes = _minutes(doc, DEFAULT_NEAR_MINUTES if near else None)
    return _windowed(rules[0], path, path.stem.lower(), window, minutes, None)


def _windowed(
    meta: SigmaRule | SigmaCorrelationRule,
    path: Path,
    rule_id: str,
    window: Window,
    minutes: int,
    threshold: int | None,
) -> Rule:
    params = [RuleParam("window_minutes", "int", minutes, "length of the window in minutes")]
    if threshold is not None:
        params.append(RuleParam("threshold", "int", threshold, "what the window must reach"))
    rule = sigma_rule(meta, path, rule_id=rule_id)
    return finish(rule.with_(window=window, params=tuple(params)))


# --------------------------------------------------------------------------- correlations

_KINDS = {
    "event_count": "event_count",
    "value_count": "value_count",
    "temporal": "temporal",
    "temporal_ordered": "temporal_ordered",
}


def _correlations(text: str, path: Path) -> list[Rule]:
    try:
        collection = SigmaCollection.from_yaml(text)
        collection.resolve_rule_references()
    except SigmaError as exc:
        raise UnsupportedRule(f"correlation: {_first_line(exc)}") from None
    items = list(collection)
    out: list[Rule] = []
    quiet: set[int] = set()
    for number, item in enumerate(items, start=1):
        if not isinstance(item, SigmaCorrelationRule):
            continue
        out.append(_correlation(item, path, number))
        if not item.generate:
            quiet.update(id(ref.rule) for ref in item.rules or [])
    for number, item in enumerate(items, start=1):
        if isinstance(item, SigmaRule) and id(item) not in quiet:
            out.append(compile_sigma_rule(item, path, rule_id=_id_of(item, path, number)))
    return out


def _id_of(item: SigmaRule | SigmaCorrelationRule, path: Path, number: int) -> str:
    name = getattr(item, "name", None)
    return str(name).lower() if name else f"{path.stem.lower()}-{number}"


def _correlation(rule: SigmaCorrelationRule, path: Path, number: int) -> Rule:
    # by the member's name: pySigma 2 numbers its correlation types, older versions named them
    type_name = str(getattr(rule.type, "name", rule.type)).lower()
    kind = _KINDS.get(type_name)
    if kind is None:
        raise UnsupportedRule(f"correlation: type {type_name} is not supported")
    refs = list(rule.rules or [])
    bases: list[SigmaRule] = []
    for ref in refs:
        if not isinstance(ref.rule, SigmaRule):
            raise UnsupportedRule("correlation: correlations of correlations are not supported")
        bases.append(ref.rule)
    aliases = getattr(rule.aliases, "aliases", {}) or {}
    group_names = tuple(str(g) for g in rule.group_by or ())
    per_step: list[tuple[str, ...]] = []
    for ref, base in zip(refs, bases, strict=True):
        fields = []
        for name in group_names:
            alias = aliases.get(name)
            if alias is None:
                fields.append(_field(name))
                continue
            mapped = next(
                (f for r, f in alias.mapping.items() if _refers(r, ref.reference, base)), None
            )
            if mapped is None:
                raise UnsupportedRule(f"correlation: alias {name!r} has no field for a rule")
            fields.append(_field(str(mapped)))
        per_step.append(tuple(fields))
    common = per_step[0] if per_step and all(p == per_step[0] for p in per_step) else ()
    steps = tuple(
        Step(
            str(base.name or base.title or f"rule {i + 1}"),
            sigma_condition(base),
            () if common else per_step[i],
        )
        for i, base in enumerate(bases)
    )
    threshold = None
    field = None
    if kind in ("event_count", "value_count"):
        condition = rule.condition
        if not isinstance(condition, SigmaCorrelationCondition):
            raise UnsupportedRule("correlation: only a simple count condition can be counted")
        op = {Op.GT: ">", Op.GTE: ">="}.get(condition.op)
        if op is None:
            raise UnsupportedRule(
                f"correlation: only gt/gte conditions can be counted ({condition.op.name.lower()})"
            )
        threshold = _threshold(op, int(condition.count))
        if kind == "value_count":
            if not condition.fieldref:
                raise UnsupportedRule("correlation: value_count needs the field it counts")
            field = str(condition.fieldref)
    window = Window(
        kind=kind,
        steps=steps,
        group_by=per_step[0] if per_step else (),
        group_names=group_names,
        field=_field(field) if field else None,
        field_name=field,
    )
    minutes = max(1, math.ceil(int(rule.timespan.seconds) / 60))
    return _windowed(rule, path, _id_of(rule, path, number), window, minutes, threshold)


def _refers(key: Any, reference: str, base: SigmaRule) -> bool:
    text = str(getattr(key, "reference", key))
    return text in (reference, str(base.name), str(base.id))
