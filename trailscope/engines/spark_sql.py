"""Athena SQL -> Spark SQL: sqlglot's transpiler plus the rules where Spark's answer differs.

sqlglot already maps most of Trino to Spark (``json_extract_scalar`` to ``get_json_object``,
``contains`` on arrays to ``array_contains``, ``array_agg`` to ``collect_list``, Trino's
NULLS LAST default...). The rules here make Spark return what Athena returns:

* ``json_extract_scalar`` is NULL when the value at the path is an object or an array
  (``get_json_object`` returns its JSON text);
* a numeric ``CAST`` of text that is not a number gives NULL, as on the DuckDB engine, instead
  of failing the query under Spark's ANSI mode;
* ``"$path"`` (the data file of a row) is the ``sourcekey`` column, as on DuckDB.

Named parameters stay ``:name`` markers: Spark binds them itself (``spark.sql(args=...)``).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from trailscope.decode.schema import SOURCEKEY
from trailscope.sql import Translation, translate

_T = exp.DataType.Type
_NUMERIC = frozenset({_T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT, _T.FLOAT, _T.DOUBLE, _T.DECIMAL})
_HIDDEN_COLUMNS = {"$path": SOURCEKEY}
#: Spark types of a NULL parameter, by saved-query parameter type.
_NULL_TYPES = {"int": "int", "string": "string", "time": "string"}


def to_spark(
    athena_sql: str,
    *,
    params: dict[str, object] | None = None,
    types: dict[str, str] | None = None,
) -> Translation:
    """The Spark SQL for one Athena query, with the lake's table mapping and partition bounds.

    Parameters whose value is NULL become typed NULLs in the SQL (Spark's bound arguments must
    be literals, and an untyped NULL is refused by array_contains and others); the other
    values stay bound by name.
    """
    trino = translate(athena_sql, dialect="athena", params=params)
    tree = sqlglot.parse_one(trino.sql, read="trino")
    notices = list(trino.notices)
    for rule in (_rule_json_scalar, _rule_numeric_casts, _rule_hidden_columns):
        tree = rule(tree, notices)
    tree = _typed_nulls(tree, params or {}, types or {})
    return Translation(athena_sql, tree.sql(dialect="spark"), "spark", notices)


def _typed_nulls(
    tree: exp.Expression, params: dict[str, object], types: dict[str, str]
) -> exp.Expression:
    for node in list(tree.find_all(exp.Placeholder)):
        if node.name in params and params[node.name] is None:
            typ = _NULL_TYPES.get(types.get(node.name, "string"), "string")
            tree = _replace(tree, node, exp.cast(exp.null(), typ))
    return tree


def _replace(tree: exp.Expression, node: exp.Expression, new: exp.Expression) -> exp.Expression:
    if node is tree:
        return new
    node.replace(new)
    return tree


def _rule_json_scalar(tree: exp.Expression, notices: list[str]) -> exp.Expression:
    """``json_extract_scalar``: NULL for objects and arrays, as in Trino.

    Whether the value is a container is asked of the parsed document (Spark 4's VARIANT), not
    of the extracted text: a JSON *string* whose text looks like JSON (an IAM policy document)
    is a scalar and must come back as text.
    """
    for node in list(tree.find_all(exp.JSONExtractScalar)):
        value = exp.Anonymous(this="get_json_object", expressions=[node.this.copy(), _path(node)])
        parsed = exp.Anonymous(this="try_parse_json", expressions=[node.this.copy()])
        kind = exp.Anonymous(
            this="schema_of_variant",
            expressions=[exp.Anonymous(this="try_variant_get", expressions=[parsed, _path(node)])],
        )
        is_container = exp.RegexpLike(
            this=exp.Coalesce(this=kind, expressions=[exp.Literal.string("")]),
            expression=exp.Literal.string("^(OBJECT|ARRAY)"),
        )
        scalar = exp.Case(ifs=[exp.If(this=is_container, true=exp.null())], default=value)
        tree = _replace(tree, node, scalar)
    return tree


def _path(node: exp.Expression) -> exp.Expression:
    """The JSON path argument as a SQL string literal."""
    path = node.expression
    if isinstance(path, exp.JSONPath):
        return exp.Literal.string(path.sql(dialect="spark").strip("'"))
    return path.copy()


def _rule_numeric_casts(tree: exp.Expression, notices: list[str]) -> exp.Expression:
    for cast in list(tree.find_all(exp.Cast)):
        if isinstance(cast, exp.TryCast):
            continue
        to = cast.args.get("to")
        if isinstance(to, exp.DataType) and to.this in _NUMERIC:
            new = exp.TryCast(this=cast.this.copy(), to=to.copy())
            tree = _replace(tree, cast, new)
            notices.append("numeric casts of text that is not a number give NULL")
    return tree


def _rule_hidden_columns(tree: exp.Expression, notices: list[str]) -> exp.Expression:
    for col in list(tree.find_all(exp.Column)):
        target = _HIDDEN_COLUMNS.get(col.name.lower())
        if target:
            notices.append(f'"{col.name}" is read as {target} (the log file of each event)')
            col.set("this", exp.to_identifier(target))
    return tree
