"""Many filter rules in one scan of the lake.

Most rules (every Sigma rule, most built-ins) are one WHERE condition around the same finding
query. Run one by one, each re-reads the same columns of every file in the time range; run
together, the lake is read once: one query returns the events that match any rule, with one
true/false column per rule, and each rule's findings are then grouped from that (small) result
in memory, with the same grouping as :func:`trailscope.detect.query.filter_sql`.
"""

from __future__ import annotations

from typing import Any, cast

import pyarrow as pa
import sqlglot
from sqlglot import exp

from trailscope.detect.model import Rule
from trailscope.duckconn import connect
from trailscope.vocabulary import ACCOUNT, OUTCOME, PRINCIPAL, REGION, SOURCE_IP

_GROUPED = """
SELECT min(eventtime) AS first_seen,
       max(eventtime) AS last_seen,
       principal,
       source_ip,
       account,
       region,
       count(*) AS event_count,
       list(eventid ORDER BY eventtime, eventid) AS event_ids,
       outcome{targets}
FROM hits
WHERE {flag}
GROUP BY principal, source_ip, account, region, outcome
"""


def batchable(rule: Rule) -> bool:
    """A plain filter with no parameters of its own that names the events it wants."""
    return rule.condition is not None and not rule.params and name_filter(rule) is not None


def name_filter(rule: Rule) -> list[exp.Expression] | None:
    """Conditions on ``lower(eventname)`` that every event the rule matches must meet.

    Read from the rule's condition (through ANDs and parentheses; an OR pins the name only
    when each side does): ``eventname = 'X'``,
    ``eventname IN (...)``, ``eventname LIKE '...'`` (also on ``lower(eventname)``, and ORs of
    those, as Sigma lists compile). None when the rule does not pin the event name.
    """
    if rule.condition is None:
        return None
    return _names(cast(exp.Expression, sqlglot.parse_one(rule.condition, read="trino")))


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
    event); each rule's full condition is then computed on those events only.
    """
    flags = ",\n       ".join(
        f"coalesce(({r.filter_condition}), false) AS _r{i}" for i, r in enumerate(rules)
    )
    targets = "".join(f",\n       {r.target} AS _t{i}" for i, r in enumerate(rules) if r.target)
    tests: list[str] = []
    for rule in rules:
        for test in name_filter(rule) or []:
            text = test.sql(dialect="trino")
            if text not in tests:
                tests.append(text)
    equal = sorted(t for t in tests if t.startswith("LOWER(eventname) = "))
    names = ", ".join(t.removeprefix("LOWER(eventname) = ") for t in equal)
    others = [t for t in tests if t not in equal]
    wanted = " OR ".join(([f"lower(eventname) IN ({names})"] if names else []) + others)
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


def group_hits(hits: pa.Table, rules: list[Rule]) -> list[pa.Table]:
    """Each rule's finding rows from the matched events (in the order of ``rules``)."""
    con = connect()
    try:
        con.register("hits", hits)
        out = []
        for i, rule in enumerate(rules):
            targets = (
                f",\n       list(DISTINCT _t{i}) FILTER (WHERE _t{i} IS NOT NULL) AS targets"
                if rule.target
                else ""
            )
            out.append(con.sql(_GROUPED.format(flag=f"_r{i}", targets=targets)).to_arrow_table())
        return out
    finally:
        con.close()


def run_batch(
    engine: Any, rules: list[Rule], bound: dict[str, Any], *, timeout: float | None
) -> list[pa.Table]:
    """The finding rows of every rule, from one query on ``engine``."""
    from trailscope.engines import prepare

    translation = prepare(engine.name, batch_sql(rules), params=bound)
    hits = engine.query(translation.sql, timeout=timeout, params=bound)
    return group_hits(hits, rules)
