"""Many filter rules in one scan of the lake.

Most rules (every Sigma rule, most built-ins) are one WHERE condition around the same finding
query. Run one by one, each re-reads the same columns of every file in the time range; run
together, the lake is read once: one query returns the events that match any rule, with one
true/false column per rule, and each rule's findings are then grouped from that (small) result
in memory, with the same grouping as :func:`trailscope.detect.query.filter_sql`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
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
    """Athena SQL: the events any rule matches, one boolean column ``_r<i>`` per rule.

    The WHERE clause keeps only events whose name some rule asks for (one cheap test per
    event); each rule's full condition (and target) is then computed on its own events only.
    """
    flags = ",\n       ".join(
        f"{_only_for_its_events(r, f'coalesce(({r.filter_condition}), false)', 'false')} AS _r{i}"
        for i, r in enumerate(rules)
    )
    targets = "".join(
        f",\n       {_only_for_its_events(r, r.target, 'NULL')} AS _t{i}"
        for i, r in enumerate(rules)
        if r.target
    )
    if all(name_filter(r) is not None for r in rules):
        wanted = names_wanted([t for rule in rules for t in name_filter(rule) or []])
    else:  # some rule names no events: keep the events any rule matches
        wanted = " OR ".join(f"coalesce(({r.filter_condition}), false)" for r in rules)
    return (
        "SELECT eventid, eventtime,\n"
        f"       {PRINCIPAL} AS principal,\n"
        f"       {SOURCE_IP} AS source_ip,\n"
        f"       {ACCOUNT} AS account,\n"
        f"       {REGION} AS region,\n"
        f"       {OUTCOME} AS outcome,\n"
        f"       {flags}{targets}\n"
        "FROM cloudtrail\n"
        "WHERE eventtime >= :since AND eventtime <= :until\n"
        f"  AND ({wanted})"
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


_KEYS = ["principal", "source_ip", "account", "region", "outcome"]


def group_hits(hits: pa.Table, rules: list[Rule]) -> list[pa.Table]:
    """Each rule's finding rows from the matched events (in the order of ``rules``): the same
    grouping as :func:`trailscope.detect.query.filter_sql`, done with Arrow in memory (a few
    milliseconds a rule, where a query each would cost the engine's planning every time)."""
    out = []
    for i, rule in enumerate(rules):
        mine = hits.filter(pc.fill_null(hits.column(f"_r{i}"), False))
        aggregates: list[Any] = [
            ("eventtime", "min"),
            ("eventtime", "max"),
            ("eventid", "count", pc.CountOptions(mode="all")),
            ("eventid", "list"),
        ]
        if rule.target:
            aggregates.append((f"_t{i}", "distinct"))
        grouped = mine.group_by(_KEYS, use_threads=False).aggregate(aggregates)
        columns = {
            "first_seen": grouped.column("eventtime_min"),
            "last_seen": grouped.column("eventtime_max"),
            **{k: grouped.column(k) for k in _KEYS[:4]},
            "event_count": grouped.column("eventid_count"),
            "event_ids": grouped.column("eventid_list"),
            "outcome": grouped.column("outcome"),
        }
        if rule.target:
            columns["targets"] = grouped.column(f"_t{i}_distinct")
        out.append(pa.table(columns))
    return out


def run_batch(
    engine: Any, rules: list[Rule], bound: dict[str, Any], *, timeout: float | None
) -> list[pa.Table]:
    """The finding rows of every rule, from one query on ``engine``."""
    from trailscope.engines import prepare

    translation = prepare(engine.name, batch_sql(rules), params=bound)
    hits = engine.query(translation.sql, timeout=timeout, params=bound)
    return group_hits(hits, rules)
