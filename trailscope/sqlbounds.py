"""Partition bounds: time predicates on ``eventtime`` (ISO strings compare in time order) and
on the Athena DDLs' partition columns also bound ``event_date``, so an engine reads only the
days a query needs. The bounds are implied by the query, so they never change its answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from sqlglot import exp

from trailscope.decode.schema import PARTITION


def bound_partitions(tree: exp.Expr, params: Mapping[str, object], table: str) -> None:
    """Add ``event_date`` bounds implied by time predicates, for partition pruning.

    Only conjuncts at the top of a WHERE are used (``a AND b``), so the added predicates are
    implied by the query and cannot change its answer. Only a SELECT that reads ``table``
    itself is bounded: a CTE or subquery has no ``event_date``, even with an ``eventtime``.
    """
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        if where is None or not _reads_the_lake(select, table):
            continue
        bounds: list[exp.Expr] = []
        for cond in conjuncts(where.this):
            bound = _bound_from(_with_values(cond, params))
            if bound is not None:
                bounds.append(bound)
        if bounds:
            combined = exp.and_(where.this, *bounds)
            select.set("where", exp.Where(this=combined))


def _with_values(cond: exp.Expr, params: Mapping[str, object]) -> exp.Expr:
    """A copy of ``cond`` with time-like placeholder values in place (for bounds only)."""
    if not params or not any(True for _ in cond.find_all(exp.Placeholder)):
        return cond

    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and isinstance(params.get(node.name), str):
            return exp.Literal.string(str(params[node.name]))
        return node

    return cond.copy().transform(fill)


def conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """The terms of a WHERE's top-level AND (parentheses looked through)."""
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    return [node]


_OPS: dict[type[exp.Expr], str] = {
    exp.GT: ">=",
    exp.GTE: ">=",
    exp.LT: "<=",
    exp.LTE: "<=",
    exp.EQ: "=",
}
_FLIP = {">=": "<=", "<=": ">=", "=": "="}


def _bound_from(cond: exp.Expr) -> exp.Expr | None:
    if isinstance(cond, exp.Between):
        low = _bound_from(exp.GTE(this=cond.this.copy(), expression=cond.args["low"].copy()))
        high = _bound_from(exp.LTE(this=cond.this.copy(), expression=cond.args["high"].copy()))
        parts = [b for b in (low, high) if b is not None]
        return exp.and_(*parts) if parts else None
    op = _OPS.get(type(cond))
    if op is None:
        return None
    left, right = cond.this, cond.expression
    found = day_of(right) if _is_time_column(left) else None
    if found is None and _is_time_column(right):
        found, op = day_of(left), _FLIP[op]
    if found is None:
        return None
    day, is_utc = found
    if not is_utc:  # an offset can move the instant to the neighbouring UTC day: widen
        shift = -1 if op == ">=" else 1
        day = (date.fromisoformat(day) + timedelta(days=shift)).isoformat()
        op = ">=" if op == ">=" else "<=" if op == "<=" else "~"
        if op == "~":
            return None
    column, literal = exp.column(PARTITION), exp.Literal.string(day)
    if op == ">=":
        return exp.GTE(this=column, expression=literal)
    if op == "<=":
        return exp.LTE(this=column, expression=literal)
    return exp.EQ(this=column, expression=literal)


_TIME_COLUMNS = {"eventtime", "eventtime_ts", PARTITION, "timestamp", "date_partition", "date"}
#: Wrappers matched by class name: sqlglot versions differ in where (and whether) they
#: model each of these (from_iso8601_timestamp, for one, is not re-exported everywhere).
_TIME_PARSERS = frozenset(
    {
        "Cast",
        "TryCast",
        "StrToTime",
        "TimeStrToTime",
        "StrToDate",
        "TsOrDsToDate",
        "TsOrDsToTimestamp",
        "Date",
        "FromISO8601Timestamp",
    }
)
_ISO_FUNCTIONS = {"from_iso8601_timestamp", "from_iso8601_date"}


def _unwrap_time(node: exp.Expr) -> exp.Expr:
    while True:
        if type(node).__name__ in _TIME_PARSERS and isinstance(node.this, exp.Expr):
            node = node.this
        elif (
            isinstance(node, exp.Anonymous)
            and node.name.lower() in _ISO_FUNCTIONS
            and node.expressions
        ):
            node = node.expressions[0]
        else:
            return node


def _is_time_column(node: exp.Expr) -> bool:
    node = _unwrap_time(node)
    return isinstance(node, exp.Column) and node.name.lower() in _TIME_COLUMNS


def day_of(node: exp.Expr) -> tuple[str, bool] | None:
    """(YYYY-MM-DD, is_utc) of a literal time: '2024-07-01T10:00:00Z', '2024/07/01', ..."""
    node = _unwrap_time(node)
    if not isinstance(node, exp.Literal) or not node.is_string:
        return None
    text = node.this.strip()
    day = text[:10].replace("/", "-")
    if len(day) != 10 or day[4] != "-" or day[7] != "-" or not day.replace("-", "").isdigit():
        return None
    rest = text[10:].strip().upper()
    offset = rest[-6:] if len(rest) >= 6 and rest[-6] in "+-" and rest[-3] == ":" else ""
    return day, offset in ("", "+00:00", "-00:00")


def _reads_the_lake(select: exp.Select, table: str) -> bool:
    sources = [
        select.args.get("from_") or select.args.get("from"),
        *(select.args.get("joins") or []),
    ]
    return any(isinstance(s.this, exp.Table) and s.this.name == table for s in sources if s)
