"""Named ``:name`` parameters -> Athena's positional ``?`` execution parameters.

Saved queries bind values by name; Athena binds ``?`` markers in the order they appear, with
each value given as a SQL literal (``'text'``, ``42``, ``CAST(NULL AS varchar)``). Athena
accepts ``?`` only inside WHERE clauses, so a value used elsewhere (``date_trunc(:bucket, ...)``
in a select list) becomes a literal built by sqlglot from the validated, typed value (the
saved-query layer has already converted it to an int or a string), with a notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from trailscope.sql import QueryError

_MARK = "__ts_param_"
_MARK_RE = re.compile(rf":{_MARK}(\d+)\b")
#: Athena types for NULL values, by saved-query parameter type.
_NULL_TYPES = {"int": "integer", "string": "varchar", "time": "varchar"}


@dataclass
class Positional:
    sql: str
    parameters: list[str] = field(default_factory=list)  # ExecutionParameters, in order
    notices: list[str] = field(default_factory=list)


def to_positional(
    trino_sql: str, params: dict[str, Any] | None = None, types: dict[str, str] | None = None
) -> Positional:
    """Rewrite ``:name`` markers of Trino SQL for ``start_query_execution``."""
    params = params or {}
    types = types or {}
    tree = sqlglot.parse_one(trino_sql, read="trino")
    values: list[Any] = []
    notices: list[str] = []
    for node in list(tree.find_all(exp.Placeholder)):
        name = node.name
        if not name:
            raise QueryError("use named parameters (:name), not '?'")
        if name not in params:
            raise QueryError(f"no value for parameter :{name}")
        value = params[name]
        if node.find_ancestor(exp.Where) is not None:
            node.replace(exp.Placeholder(this=f"{_MARK}{len(values)}"))
            values.append((name, value))
        else:
            notices.append(
                f"parameter :{name} is outside a WHERE clause, where Athena takes no '?': "
                "sent as a literal"
            )
            node.replace(_literal_node(value, types.get(name)))
    text = tree.sql(dialect="trino")
    ordered: list[str] = []

    def mark(m: re.Match[str]) -> str:
        name, value = values[int(m.group(1))]
        ordered.append(literal(value, types.get(name)))
        return "?"

    text = _MARK_RE.sub(mark, text)
    return Positional(text, ordered, list(dict.fromkeys(notices)))


def literal(value: Any, param_type: str | None = None) -> str:
    """One execution parameter: a typed SQL literal."""
    if value is None:
        return f"CAST(NULL AS {_NULL_TYPES.get(param_type or 'string', 'varchar')})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _literal_node(value: Any, param_type: str | None) -> exp.Expression:
    if value is None:
        return exp.cast(exp.null(), _NULL_TYPES.get(param_type or "string", "varchar"))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))
