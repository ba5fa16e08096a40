"""What a query can name: the lake's columns with their types, and the JSON paths seen inside
the free-form JSON columns (``trailscope query --columns``).

The columns come from the schema (they are the same for every lake). The JSON columns hold each
service's own request and response documents, so their fields are only known from the data:
:func:`json_paths` reads a bounded, stratified sample, up to ``per_event`` events of every
event source and name in the lake, and merges their structure with DuckDB's
``json_group_structure``. A path that only one event name uses is found as surely as a common
one, and the cost does not grow with the busiest event names (about a second on a
million-event lake: one pass over the columns' text, JSON parsed for the sample only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from trailscope.decode.schema import EVENT_FIELDS, TABLE_SCHEMA, Kind
from trailscope.sql import COMPAT_COLUMNS, TABLE

#: The columns that keep a JSON document as text, whose fields differ per event
#: (requestparameters, responseelements, additionaleventdata, serviceeventdetails, ...).
JSON_COLUMNS: tuple[str, ...] = tuple(f.name for f in EVENT_FIELDS if f.kind is Kind.JSON)
#: Events sampled per event source and name by default.
PER_EVENT = 50


@dataclass(frozen=True)
class Column:
    """One column (or struct field, as a dotted path) a query can name."""

    name: str
    type: str  # Athena's type name
    note: str = ""


@dataclass
class JsonPath:
    """A path found in a JSON column, with what it held and which events carried it."""

    column: str
    path: str  # JSONPath as json_extract_scalar takes it: $.a.b, $.items[0].c, $["a:b"]
    types: list[str] = field(default_factory=list)  # JSON types seen: string, number, ...
    event_names: list[str] = field(default_factory=list)  # most frequent in the lake first
    events: int = 0  # events in the lake with those names (the sample saw the path in them)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def table_columns() -> list[Column]:
    """Every column of the ``cloudtrail`` table, struct fields as dotted paths, with types."""
    from trailscope.athena.ddl import hive_type

    notes = {c: "JSON text (paths below)" for c in JSON_COLUMNS}
    notes.update(
        {
            "extra": "JSON text: fields the schema does not know, kept",
            "eventtime_ts": "eventtime as a timestamp",
            "sourcekey": "the log file the event came from",
            "event_date": "partition: the event's UTC day",
        }
    )
    out: list[Column] = []
    for f in TABLE_SCHEMA:
        for name, typ in _flatten(f.name, f.type):
            shown = "struct" if pa.types.is_struct(typ) else hive_type(typ)  # fields follow
            out.append(Column(name, shown, notes.get(name, "")))
    for name, expr in COMPAT_COLUMNS.items():
        out.append(Column(name, "string", f"partition column of Athena DDLs: {expr}"))
    return out


def _flatten(name: str, typ: pa.DataType) -> list[tuple[str, pa.DataType]]:
    rows = [(name, typ)]
    if pa.types.is_struct(typ):
        for child in typ:
            rows.extend(_flatten(f"{name}.{child.name}", child.type))
    return rows


def json_paths(engine: Any, *, per_event: int = PER_EVENT) -> list[JsonPath]:
    """The JSON paths in :data:`JSON_COLUMNS`, from up to ``per_event`` events of each event
    source and name (``engine``: a :class:`~trailscope.engines.duckdb.DuckDBEngine`).

    DuckDB picks the sample (one pass over the columns' text); the few thousand documents it
    returns are parsed and walked here, faster than DuckDB's JSON functions over the same rows.
    """
    if per_event < 1:
        raise ValueError("per_event must be >= 1")
    # The sample is chosen on narrow columns, then only its rows' documents are read: picking
    # it over the JSON columns themselves made DuckDB carry all their text through the window.
    counts = engine.query(
        f"SELECT eventsource, eventname, count(*) AS n FROM {TABLE} GROUP BY ALL"
    ).to_pylist()
    n_of = {(r["eventsource"], r["eventname"]): int(r["n"]) for r in counts}
    table = engine.query(
        f"""WITH sample AS (
            SELECT eventid FROM {TABLE}
            QUALIFY row_number() OVER (PARTITION BY eventsource, eventname) <= {int(per_event)}
        )
        SELECT eventsource, eventname, {", ".join(JSON_COLUMNS)}
        FROM {TABLE} SEMI JOIN sample USING (eventid)"""
    )
    found: dict[tuple[str, str], JsonPath] = {}
    counted: dict[tuple[str, str], dict[str, int]] = {}
    for row in table.to_pylist():
        name = row["eventname"] or ""
        n = n_of.get((row["eventsource"], row["eventname"]), 0)
        for column in JSON_COLUMNS:
            text = row[column]
            if text is None:
                continue
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue  # not JSON: nothing to index (the text is still queryable)
            for path, kind in _leaves(doc, "$"):
                entry = found.setdefault((column, path), JsonPath(column, path))
                if kind not in entry.types:
                    entry.types.append(kind)
                counted.setdefault((column, path), {})[name] = n
    for key, entry in found.items():
        ranked = sorted(counted[key].items(), key=lambda item: (-item[1], item[0]))
        entry.event_names = [name for name, _ in ranked]
        entry.events = sum(n for _, n in ranked)
        entry.types.sort()
    return sorted(found.values(), key=lambda p: (JSON_COLUMNS.index(p.column), p.path.lower()))


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Each leaf of a JSON document with its JSON type; array elements all count as ``[0]``
    (the path that reads the first element; Athena's ``json_extract`` takes any index)."""
    if isinstance(value, dict):
        if not value:
            yield path, "object"
        for key, item in value.items():
            yield from _leaves(item, path + _step(key))
    elif isinstance(value, list):
        if not value:
            yield path, "array"
        for item in value:
            yield from _leaves(item, path + "[0]")
    elif path != "$" or value is not None:  # a JSON null document says nothing
        yield path, _TYPES.get(type(value), "string")


_TYPES: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def _step(key: str) -> str:
    """One step of a JSONPath: ``.name`` for plain names, ``["a:b"]`` otherwise."""
    if key.replace("_", "a").isalnum() and key.isascii() and not key[:1].isdigit():
        return f".{key}"
    return "[" + orjson.dumps(key).decode() + "]"
