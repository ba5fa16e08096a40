"""Athena SQL in, engine SQL out.

People paste CloudTrail queries from AWS docs, runbooks and blog posts, written for Athena (Trino)
against a table of their own naming. This module makes them run on the lake unchanged:

* any table that is not a CTE of the query is the lake's ``cloudtrail`` table (with a notice),
  keeping the original name as an alias so qualified column references still resolve;
* the partition columns of the common Athena DDLs (``timestamp``, ``date_partition``,
  ``region_partition``, ``account_partition``, ``region``, ``year``/``month``/``day``) exist as
  columns of the lake's view (see :data:`COMPAT_COLUMNS`);
* time predicates on ``eventtime`` (ISO strings compare in time order) and on those partition
  columns also bound ``event_date``, so the engine reads only the days it needs;
* sqlglot transpiles functions and syntax to the engine's dialect, with a few rules of our own
  where the engines differ (:func:`_duckdb_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from trailscope.decode.schema import PARTITION, TABLE_SCHEMA, column_paths
from trailscope.errors import TrailscopeError

TABLE = "cloudtrail"

#: Columns that common Athena CloudTrail DDLs partition by, as expressions of our columns.
COMPAT_COLUMNS: dict[str, str] = {
    "timestamp": f"replace({PARTITION}, '-', '/')",  # projection 'yyyy/MM/dd'
    "date_partition": f"replace({PARTITION}, '-', '/')",
    "region_partition": "awsregion",
    "account_partition": "recipientaccountid",
    "region": "awsregion",
    "year": f"substr({PARTITION}, 1, 4)",
    "month": f"substr({PARTITION}, 6, 2)",
    "day": f"substr({PARTITION}, 9, 2)",
}


class QueryError(TrailscopeError):
    """The SQL cannot run: where it fails (line, column) and, when we can tell, what to write."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if line is not None:
            where = f" (line {line}" + (f", column {column})" if column is not None else ")")
        super().__init__(f"{message}{where}", hint=hint)
        self.line = line
        self.column = column


@dataclass
class Translation:
    """What will run, and what the user should know about the rewriting."""

    source: str
    sql: str
    dialect: str
    notices: list[str] = field(default_factory=list)


def translate(
    athena_sql: str, *, dialect: str = "duckdb", params: dict[str, object] | None = None
) -> Translation:
    """Rewrite one Athena SELECT for ``dialect`` (duckdb, spark, trino/athena).

    ``params`` are the values that ``:name`` placeholders will be bound to; they stay bound
    parameters in the SQL and are only read here to derive partition bounds.
    """
    tree = parse(athena_sql)
    notices: list[str] = []
    _map_tables(tree, notices)
    _bound_partitions(tree, params or {})
    if dialect == "duckdb":
        tree = _duckdb_rules(tree)
    out_dialect = "trino" if dialect == "athena" else dialect
    return Translation(athena_sql, tree.sql(dialect=out_dialect, pretty=False), dialect, notices)


def parse(athena_sql: str) -> exp.Expression:
    """Parse one read-only statement, or raise a QueryError that points at the problem."""
    text = athena_sql.strip().rstrip(";").strip()
    if not text:
        raise QueryError("the query is empty", hint="write a SELECT over the table 'cloudtrail'")
    try:
        statements = sqlglot.parse(text, read="athena")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise QueryError(
            f"cannot parse the SQL: {first.get('description') or exc}",
            line=first.get("line"),
            column=first.get("col"),
        ) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise QueryError(
            f"expected one statement, found {len(statements)}", hint="run statements one at a time"
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        kind = tree.key.upper()
        raise QueryError(
            f"only queries can run here, not {kind}",
            hint="the lake is read-only through SQL; use 'trailscope ingest' to add data",
        )
    return tree


def _map_tables(tree: exp.Expression, notices: list[str]) -> None:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Func | exp.Unnest) or not table.name:
            continue
        name = table.name.lower()
        if not table.db and name in ctes:
            continue
        full = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        if full.lower() != TABLE:
            notices.append(f"table {full} is read from the lake (as '{TABLE}')")
        alias = table.alias or (table.name if table.name.lower() != TABLE else None)
        new = exp.Table(this=exp.to_identifier(TABLE))
        if alias:  # keep the old name usable in qualified column references
            new.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        table.replace(new)


# --------------------------------------------------------------------------- partition bounds


def _bound_partitions(tree: exp.Expression, params: dict[str, object]) -> None:
    """Add ``event_date`` bounds implied by time predicates, for partition pruning.

    Only conjuncts at the top of a WHERE are used (``a AND b``), so the added predicates are
    implied by the query and cannot change its answer.
    """
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        if where is None:
            continue
        bounds: list[exp.Expression] = []
        for cond in _conjuncts(where.this):
            bound = _bound_from(_with_values(cond, params))
            if bound is not None:
                bounds.append(bound)
        if bounds:
            combined = exp.and_(where.this, *bounds)
            select.set("where", exp.Where(this=combined))


def _with_values(cond: exp.Expression, params: dict[str, object]) -> exp.Expression:
    """A copy of ``cond`` with time-like placeholder values in place (for bounds only)."""
    if not params or not any(True for _ in cond.find_all(exp.Placeholder)):
        return cond

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and isinstance(params.get(node.name), str):
            return exp.Literal.string(str(params[node.name]))
        return node

    return cond.copy().transform(fill)


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


_OPS = {exp.GT: ">=", exp.GTE: ">=", exp.LT: "<=", exp.LTE: "<=", exp.EQ: "="}
_FLIP = {">=": "<=", "<=": ">=", "=": "="}


def _bound_from(cond: exp.Expression) -> exp.Expression | None:
    if isinstance(cond, exp.Between):
        low = _bound_from(exp.GTE(this=cond.this.copy(), expression=cond.args["low"].copy()))
        high = _bound_from(exp.LTE(this=cond.this.copy(), expression=cond.args["high"].copy()))
        parts = [b for b in (low, high) if b is not None]
        return exp.and_(*parts) if parts else None
    op = _OPS.get(type(cond))
    if op is None:
        return None
    left, right = cond.this, cond.expression
    found = _day_of(right) if _is_time_column(left) else None
    if found is None and _is_time_column(right):
        found, op = _day_of(left), _FLIP[op]
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


_TIME_COLUMNS = {"eventtime", "eventtime_ts", PARTITION, "timestamp", "date_partition"}
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


def _unwrap_time(node: exp.Expression) -> exp.Expression:
    while True:
        if type(node).__name__ in _TIME_PARSERS and isinstance(node.this, exp.Expression):
            node = node.this
        elif (
            isinstance(node, exp.Anonymous)
            and node.name.lower() in _ISO_FUNCTIONS
            and node.expressions
        ):
            node = node.expressions[0]
        else:
            return node


def _is_time_column(node: exp.Expression) -> bool:
    node = _unwrap_time(node)
    return isinstance(node, exp.Column) and node.name.lower() in _TIME_COLUMNS


def _day_of(node: exp.Expression) -> tuple[str, bool] | None:
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


# --------------------------------------------------------------------------- engine rules


def _duckdb_rules(tree: exp.Expression) -> exp.Expression:
    """Where Trino and DuckDB differ in ways sqlglot leaves alone."""
    return tree


def suggest_column(name: str) -> str | None:
    """'did you mean' for a mistyped column: the closest known column path."""
    import difflib

    known = column_paths() + [f.name for f in TABLE_SCHEMA] + list(COMPAT_COLUMNS)
    low = name.lower().split(".")[-1]
    by_tail: dict[str, str] = {}
    for path in known:
        by_tail.setdefault(path.split(".")[-1], path)
    close = difflib.get_close_matches(low, list(by_tail), n=1, cutoff=0.7)
    return by_tail[close[0]] if close else None
