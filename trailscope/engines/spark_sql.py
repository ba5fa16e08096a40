"""Athena SQL -> Spark SQL: sqlglot's transpiler plus the rules where Spark's answer differs.

sqlglot already maps most of Trino to Spark (``json_extract_scalar`` to ``get_json_object``,
``contains`` on arrays to ``array_contains``, ``array_agg`` to ``collect_list``, Trino's
NULLS LAST default...). The rules here make Spark return what Athena returns:

* ``json_extract_scalar`` is NULL when the value at the path is an object or an array
  (``get_json_object`` returns its JSON text), and ``json_format(json_extract(...))`` is the
  value's JSON text whatever it is (a string keeps its quotes), as in Trino;
* a numeric ``CAST`` of text that is not a number gives NULL, as on the DuckDB engine, instead
  of failing the query under Spark's ANSI mode, and ``"$path"`` (the data file of a row) is the
  ``sourcekey`` column: the same rewrites as for DuckDB, shared with :mod:`trailscope.sql`;
* ``contains('10.0.0.0/8', CAST(x AS IPADDRESS))`` (an address in a network; Spark has no
  address type) is arithmetic on the address's text: exact for IPv4, and for IPv6 networks of
  up to 16 bits (fc00::/7, fe80::/10) or single addresses.

Named parameters stay ``:name`` markers: Spark binds them itself (``spark.sql(args=...)``).
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast

import sqlglot
from sqlglot import exp

from trailscope.sql import Translation, translate
from trailscope.sql import _rule_hidden_columns as _shared_hidden_columns
from trailscope.sql import _rule_numeric_casts as _shared_numeric_casts

_T = exp.DataType.Type
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
    tree: Any = sqlglot.parse_one(trino.sql, read="trino")  # sqlglot 30 types it as Expr
    notices = list(trino.notices)
    rules = (
        _rule_json_format,
        _rule_json_scalar,
        _shared_numeric_casts,
        _shared_hidden_columns,
        _rule_ip_contains,
    )
    for rule in rules:
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
    for node in _innermost_first(tree, exp.JSONExtractScalar):
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


def _rule_json_format(tree: exp.Expression, notices: list[str]) -> exp.Expression:
    """``json_format(json_extract(x, path))``: the JSON text of the value at the path, read
    from the parsed document (Spark's ``to_json`` takes no plain string)."""
    for node in _innermost_first(tree, exp.JSONFormat):
        inner = node.this
        if not isinstance(inner, exp.JSONExtract):
            continue
        parsed = exp.Anonymous(this="try_parse_json", expressions=[inner.this.copy()])
        value = exp.Anonymous(this="try_variant_get", expressions=[parsed, _path(inner)])
        tree = _replace(tree, node, exp.Anonymous(this="to_json", expressions=[value]))
    return tree


def _innermost_first(tree: exp.Expression, kind: type[exp.Expression]) -> list[Any]:
    """The nodes of a kind, each after the ones nested in it: a rewrite copies its arguments,
    so an inner node must be rewritten before the outer one copies it."""
    return list(reversed(list(tree.find_all(kind, bfs=False))))


def _path(node: exp.Expression) -> exp.Expression:
    """The JSON path argument as a SQL string literal."""
    path = node.expression
    if isinstance(path, exp.JSONPath):
        return exp.Literal.string(path.sql(dialect="spark").strip("'"))
    return path.copy()


def _rule_ip_contains(tree: exp.Expression, notices: list[str]) -> exp.Expression:
    """``contains(network, CAST(x AS IPADDRESS))`` with a literal network, for Spark."""
    for node in _innermost_first(tree, exp.ArrayContains):
        network, value = node.this, node.expression
        if not (isinstance(network, exp.Literal) and network.is_string):
            continue
        if not (isinstance(value, exp.Cast) and value.to.is_type(_T.IPADDRESS)):
            continue
        try:
            net = ipaddress.ip_network(network.name, strict=False)
        except ValueError:
            continue
        address = value.this.sql(dialect="spark")
        test = cast(exp.Expression, sqlglot.parse_one(_in_network_sql(address, net), read="spark"))
        tree = _replace(tree, node, exp.Paren(this=test))
        notices.append("addresses are matched to networks by arithmetic on their text")
    return tree


def _in_network_sql(address: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    if isinstance(net, ipaddress.IPv4Network):
        octet = [f"CAST(element_at(split({address}, '[.]'), {i}) AS BIGINT)" for i in (1, 2, 3, 4)]
        number = f"({octet[0]} * 16777216 + {octet[1]} * 65536 + {octet[2]} * 256 + {octet[3]})"
        size = 2 ** (32 - net.prefixlen)
        first = int(net.network_address) // size
        return (
            f"coalesce({address} RLIKE '^[0-9]{{1,3}}([.][0-9]{{1,3}}){{3}}$' "
            f"AND floor({number} / {size}) = {first}, false)"
        )
    if net.prefixlen == 128:
        return f"coalesce(lower({address}) = '{net.network_address.compressed}', false)"
    if net.prefixlen <= 16:
        low = int(net.network_address) >> 112
        high = low | ((1 << (16 - net.prefixlen)) - 1)
        group = f"CAST(conv(element_at(split(lower({address}), ':'), 1), 16, 10) AS BIGINT)"
        return f"coalesce({address} LIKE '%:%' AND {group} BETWEEN {low} AND {high}, false)"
    prefix = net.network_address.compressed.rstrip(":")
    return f"coalesce(lower({address}) LIKE '{prefix}%', false)"
