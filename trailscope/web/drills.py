"""Events filters: the conditions a drill-down link carries to the events list.

A link from a number to its events says, in the URL, exactly which events it counted:

* short names for the common fields (:data:`FIELDS`): ``eventname=ConsoleLogin``, ``ip=...``;
* any dimension (:mod:`trailscope.web.fields`) by its name: ``is.<dim>=value``,
  ``not.<dim>=value`` (repeated: none of these values, what an "(other)" bar stands for),
  ``like.<dim>=%Stop%`` (repeated: any of these patterns), ``null.<dim>=1``, ``set.<dim>=1``;
* ``not_<short>`` and ``none_<short>`` for the short names' "(other)" and "(none)";
* flags (:data:`FLAGS`): ``errors=only``, ``console=true|session|agent``.

Each becomes an Athena SQL condition with bound parameters only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trailscope.errors import TrailscopeError
from trailscope.web.fields import SHORT, dimension
from trailscope.web.sqlwords import CONSOLE_BY_AGENT, CONSOLE_BY_SESSION, CONSOLE_CALL

#: The short names a drill-down can set (the filter bar's own keys are not among them).
FIELDS: dict[str, str] = {
    k: v for k, v in SHORT.items() if k not in ("source", "account", "region", "principal")
}
FIELDS["principal_is"] = "principal"
FLAGS: dict[str, tuple[str, dict[str, str]]] = {
    "errors": ("only errors", {"only": "errorcode IS NOT NULL"}),
    "console": (
        "console call",
        {
            "any": CONSOLE_CALL,
            "true": CONSOLE_CALL,
            "session": CONSOLE_BY_SESSION,
            "agent": CONSOLE_BY_AGENT,
        },
    ),
}
#: Short names whose "(other)" and "(none)" forms exist too (the filter bar's keys included).
NEGATABLE = {**FIELDS, **{k: SHORT[k] for k in ("source", "account", "region", "principal")}}
OPS = ("is", "not", "like", "null", "set")
LABELS = {"is": "is", "not": "is none of", "like": "is like", "null": "is empty", "set": "is set"}


@dataclass(frozen=True)
class Condition:
    """One events filter: its URL keys (to remove it), what it says, its SQL and values."""

    keys: tuple[str, ...]
    label: str
    sql: str
    params: dict[str, object]
    items: tuple[tuple[str, str], ...]  # the URL items that make it


def _dim_condition(
    op: str, spec: str, values: list[str], n: int, keys: tuple[str, ...]
) -> Condition:
    dim = dimension(spec)
    if dim.kind == "time":
        raise TrailscopeError(f"cannot filter on {spec!r} this way", hint="use since and until")
    expr = dim.sql
    items = tuple((keys[0], v) for v in values)
    what = dim.label
    if op == "is":
        return Condition(
            keys,
            f"{what} = {values[0]}",
            f"CAST({expr} AS varchar) = :c{n}_0",
            {f"c{n}_0": values[0]},
            items[:1],
        )
    if op in ("null", "set"):
        sql = f"{expr} IS NULL" if op == "null" else f"{expr} IS NOT NULL"
        return Condition(keys, f"{what} {LABELS[op]}", sql, {}, items[:1])
    names = [f"c{n}_{i}" for i in range(len(values))]
    params: dict[str, object] = dict(zip(names, values, strict=True))
    if op == "like":
        sql = "(" + " OR ".join(f"CAST({expr} AS varchar) LIKE :{p}" for p in names) + ")"
        return Condition(keys, f"{what} like {' or '.join(values)}", sql, params, items)
    # not: none of the named values; "(none)" among them means the field must be set
    named = [(p, v) for p, v in zip(names, values, strict=True) if v != "(none)"]
    listed = ", ".join(f":{p}" for p, _ in named)
    if "(none)" in values:
        sql = f"{expr} IS NOT NULL" + (
            f" AND CAST({expr} AS varchar) NOT IN ({listed})" if named else ""
        )
    else:
        sql = f"({expr} IS NULL OR CAST({expr} AS varchar) NOT IN ({listed}))" if named else "true"
    shown = ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    return Condition(
        keys, f"{what} is none of {shown}", f"({sql})", {p: v for p, v in named}, items
    )


def conditions(items: Iterable[tuple[str, str]]) -> list[Condition]:
    """The events filters among a query string's items (others are ignored)."""
    grouped: dict[str, list[str]] = {}
    for key, value in items:
        value = value.strip()
        if not value:
            continue
        if key in FIELDS or key in FLAGS or key.startswith(("not_", "none_")) or "." in key:
            grouped.setdefault(key, []).append(value)
    out: list[Condition] = []
    for n, (key, values) in enumerate(grouped.items()):
        if key in FLAGS:
            label, choices = FLAGS[key]
            if values[0] not in choices:
                raise TrailscopeError(
                    f"unknown value {values[0]!r} for {key}", hint="one of " + ", ".join(choices)
                )
            text = label if values[0] in ("only", "true", "any") else f"{label} ({values[0]})"
            out.append(Condition((key,), text, choices[values[0]], {}, ((key, values[0]),)))
        elif key in FIELDS:
            out.append(_dim_condition("is", FIELDS[key], values, n, (key,)))
        elif key.startswith("not_") and key[4:] in NEGATABLE:
            out.append(_dim_condition("not", NEGATABLE[key[4:]], values, n, (key,)))
        elif key.startswith("none_") and key[5:] in NEGATABLE:
            out.append(_dim_condition("null", NEGATABLE[key[5:]], values, n, (key,)))
        elif "." in key:
            op, _, spec = key.partition(".")
            if op in OPS:
                out.append(_dim_condition(op, spec, values, n, (key,)))
    return out


def where(conds: list[Condition]) -> tuple[str, dict[str, object]]:
    """The conditions joined (``true`` for none) and their bound values."""
    params: dict[str, object] = {}
    for c in conds:
        params |= c.params
    return (" AND ".join(f"({c.sql})" for c in conds) or "true"), params


def is_filter_key(key: str) -> bool:
    """Whether a query-string key is an events filter (kept in links that keep the filter)."""
    return (
        key in FIELDS
        or key in FLAGS
        or (key.startswith("not_") and key[4:] in NEGATABLE)
        or (key.startswith("none_") and key[5:] in NEGATABLE)
        or (key.partition(".")[0] in OPS and "." in key)
    )
