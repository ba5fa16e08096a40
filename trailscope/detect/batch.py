"""Many filter rules in one scan of the lake.

Most rules (every Sigma rule, most built-ins) are one WHERE condition around the same finding
query. Run one by one, each re-reads the same columns of every file in the time range; run
together, the lake is read once: one query computes, for each event, which rules it matches,
and groups each rule's events into finding rows as :func:`trailscope.detect.query.filter_sql`
does. The grouping stays in the engine, so a rule that matches most events (Sigma's
AssumeRole rule matches two thirds of a trail) costs a group-by, not a table of every event.
"""

from __future__ import annotations

import bisect
from functools import lru_cache
from typing import Any, cast

import pyarrow as pa
import sqlglot
from sqlglot import exp

from trailscope.detect.model import Rule
from trailscope.vocabulary import ACCOUNT, OUTCOME, PRINCIPAL, REGION, SOURCE_IP


def batchable(rule: Rule) -> bool:
    """A plain filter with no parameters of its own that names the events it wants."""
    return rule.condition is not None and not rule.params and name_filter(rule) is not None


def name_filter(rule: Rule) -> tuple[str, ...] | None:
    """Conditions on ``lower(eventname)`` that every event the rule matches must meet.

    Read from the rule's condition (through ANDs and parentheses; an OR pins the name only
    when each side does): ``eventname = 'X'``,
    ``eventname IN (...)``, ``eventname LIKE '...'`` (also on ``lower(eventname)``, and ORs of
    those, as Sigma lists compile). None when the rule does not pin the event name.
    """
    if rule.condition is None:
        return None
    return condition_names(rule.condition)


@lru_cache(maxsize=2048)
def condition_names(condition: str) -> tuple[str, ...] | None:
    """The ``lower(eventname)`` tests a condition implies (see :func:`name_filter`), as Trino
    SQL text; remembered, since a rule's condition is asked about on every run."""
    tests = _names(cast(exp.Expression, sqlglot.parse_one(condition, read="trino")))
    return None if tests is None else tuple(t.sql(dialect="trino") for t in tests)


def _is_name(node: exp.Expression) -> bool:
    if isinstance(node, exp.Lower):
        node = node.this
    return isinstance(node, exp.Column) and not node.table and node.name.lower() == "eventname"


def _names(node: exp.Expression) -> list[exp.Expression] | None:
    """``lower(eventname)`` tests implied by ``node``, or None if it implies none."""
    if isinstance(node, exp.Paren):
        return _names(cast(exp.Expression, node.this))
    if isinstance(node, exp.And):  # any conjunct that pins the name pins it for the whole
        return _names(cast(exp.Expression, node.left)) or _names(cast(exp.Expression, node.right))
    if isinstance(node, exp.Or):
        left = _names(cast(exp.Expression, node.left))
        right = _names(cast(exp.Expression, node.right))
        return left + right if left is not None and right is not None else None
    lowered = exp.Lower(this=exp.column("eventname"))
    if isinstance(node, exp.EQ) and _is_name(node.this) and node.expression.is_string:
        literal = exp.Literal.string(node.expression.name.lower())
        return [exp.EQ(this=lowered.copy(), expression=literal)]
    if isinstance(node, exp.In) and _is_name(node.this):
        values = node.expressions
        if values and all(v.is_string for v in values):
            return [
                exp.EQ(this=lowered.copy(), expression=exp.Literal.string(v.name.lower()))
                for v in values
            ]
    if isinstance(node, exp.Like) and _is_name(node.this) and node.expression.is_string:
        like = exp.Like(
            this=lowered.copy(), expression=exp.Literal.string(node.expression.name.lower())
        )
        return [like]
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.Like):
        inner = _names(node.this)
        if inner:
            return [exp.Escape(this=inner[0], expression=node.expression.copy())]
    return None


def batch_sql(rules: list[Rule]) -> str:
    """Athena SQL: the finding rows of every rule, each row with ``rule_index``, its rule's
    position in ``rules``.

    Each event gets the list of the rules it matches, each rule's condition computed once
    (and, for a rule that names its events, on those events only); the events are then
    unnested per rule and grouped as :func:`trailscope.detect.query.filter_sql` groups them.
    When every rule names its events, the scan keeps only events with one of those names.
    """
    matched = ",\n         ".join(
        _only_for_its_events(r, f"IF(coalesce(({r.filter_condition}), false), {i})", "NULL")
        for i, r in enumerate(rules)
    )
    with_target = [i for i, r in enumerate(rules) if r.target]
    own_targets = "".join(
        f",\n         {_only_for_its_events(rules[i], rules[i].target or 'NULL', 'NULL')} AS _t{i}"
        for i in with_target
    )
    targets = " ".join(f"WHEN {i} THEN _t{i}" for i in with_target)
    target_column = f",\n         CASE rule_index {targets} END AS target" if targets else ""
    target_values = ",\n       array_agg(DISTINCT target) AS targets" if targets else ""
    if all(name_filter(r) is not None for r in rules):
        wanted = names_wanted([t for rule in rules for t in name_filter(rule) or []])
        named = f"\n    AND ({wanted})"
    else:  # some rule names no events: every event is tried
        named = ""
    return (
        "WITH scanned AS (\n"
        "  SELECT eventid, eventtime,\n"
        f"         {PRINCIPAL} AS principal,\n"
        f"         {SOURCE_IP} AS source_ip,\n"
        f"         {ACCOUNT} AS account,\n"
        f"         {REGION} AS region,\n"
        f"         {OUTCOME} AS outcome,\n"
        f"         filter(ARRAY[{matched}], x -> x IS NOT NULL) AS matched_rules{own_targets}\n"
        "  FROM cloudtrail\n"
        f"  WHERE eventtime >= :since AND eventtime <= :until{named}\n"
        "), hits AS (\n"
        "  SELECT eventid, eventtime, principal, source_ip, account, region, outcome,\n"
        f"         rule_index{target_column}\n"
        "  FROM scanned CROSS JOIN UNNEST(matched_rules) AS u (rule_index)\n"
        ")\n"
        "SELECT rule_index,\n"
        "       min(eventtime) AS first_seen,\n"
        "       max(eventtime) AS last_seen,\n"
        "       principal, source_ip, account, region,\n"
        "       count(*) AS event_count,\n"
        "       array_sort(array_agg(eventid)) AS event_ids,\n"
        f"       outcome{target_values}\n"
        "FROM hits\n"
        "GROUP BY rule_index, principal, source_ip, account, region, outcome"
    )


def _only_for_its_events(rule: Rule, value: str, otherwise: str) -> str:
    """``value`` computed only on the events whose name the rule asks for: a CASE is evaluated
    on its matching rows alone, so a costly condition (JSON policies) skips the other rules'
    events (the result is the same: the condition implies the name test)."""
    tests = name_filter(rule)
    if tests is None:
        return value
    return f"CASE WHEN {names_wanted(list(tests))} THEN {value} ELSE {otherwise} END"


def names_wanted(tests: list[str]) -> str:
    """One cheap condition on ``eventname`` from the tests of several rules."""
    texts: list[str] = []
    for text in tests:
        if text not in texts:
            texts.append(text)
    equal = sorted(t for t in texts if t.startswith("LOWER(eventname) = "))
    names = ", ".join(t.removeprefix("LOWER(eventname) = ") for t in equal)
    others = [t for t in texts if t not in equal]
    return " OR ".join(([f"lower(eventname) IN ({names})"] if names else []) + others)


def split_by_rule(found: pa.Table, count: int) -> list[pa.Table]:
    """The finding rows of :func:`batch_sql`, one table per rule (in the order of the rules)."""
    if not found.num_rows:
        return [found.drop_columns(["rule_index"])] * count
    ordered = found.sort_by("rule_index")
    index = ordered.column("rule_index").to_pylist()
    starts = [bisect.bisect_left(index, i) for i in range(count + 1)]
    rows = ordered.drop_columns(["rule_index"])
    return [rows.slice(starts[i], starts[i + 1] - starts[i]) for i in range(count)]


def run_batch(
    engine: Any, rules: list[Rule], bound: dict[str, Any], *, timeout: float | None
) -> list[pa.Table]:
    """The finding rows of every rule, from one query on ``engine``."""
    from trailscope.engines import prepare

    translation = prepare(engine.name, batch_sql(rules), params=bound)
    found = engine.query(translation.sql, timeout=timeout, params=bound)
    return split_by_rule(found, len(rules))
