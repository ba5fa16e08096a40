"""Ingest filters on rows: leave out events by source or name, keep only those a SQL condition
accepts, blank fields.

The settings (:class:`~trailscope.lake.settings.IngestFilters`) are checked once, in the
committing process, by :func:`compile_filters`: names are resolved against the lake's schema,
and the ``where`` condition is translated and bound by the caller's compiler
(:mod:`trailscope.ingest_where`: the lake imports no SQL translator), so a typo fails before
any file is read instead of in a worker halfway through a run. The result
(:class:`CompiledFilters`) travels with every batch, so the filters apply wherever batches run
(worker processes, the committing process, Lambda, Spark tasks, repair).

In a worker, :func:`apply_filters` runs on a batch's decoded rows before they are sorted and
split into days: exclusions compare the distinct values of ``eventsource`` and ``eventname``
only (the columns are dictionaries), and the condition runs in DuckDB over the Arrow rows, each
nested column put in place only if the condition reads it. Redaction (:func:`redact`) runs on
each day's rows just before they are written. A condition that fails on some event's values
stops the run with that error: an event is never kept or dropped by a filter that did not run.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from trailscope.decode.schema import (
    EVENT_FIELDS,
    EVENTTIME_TS,
    FILE_SCHEMA,
    SOURCEKEY,
    Kind,
)
from trailscope.lake.settings import FilterError, IngestFilters

if TYPE_CHECKING:
    import duckdb

#: The column DuckDB returns for each kept row: its position in the batch.
ROW = "__trailscope_row"
#: Nested columns travel through the batch as positions (see ``NestedValues``); a condition
#: that reads one gets its values put in place first.
NESTED_COLUMNS = frozenset(
    f.name for f in EVENT_FIELDS if f.kind in (Kind.STRUCT, Kind.LIST, Kind.MAP)
)
#: Fields the lake itself needs in every row: duplicates are told by id and time, days by time,
#: and repair and concurrent writers find a row's source object by its key.
REQUIRED = {
    "eventid": "duplicates are recognised by it",
    "eventtime": "duplicates are recognised by it",
    EVENTTIME_TS: "events are partitioned by it",
    SOURCEKEY: "repair and concurrent ingests find a row's source file by it",
}
_JSON_COLUMNS = frozenset(f.name for f in EVENT_FIELDS if f.kind is Kind.JSON) | {"extra"}


@dataclass(frozen=True)
class WhereSQL:
    """A ``where`` condition made ready to run on a batch's rows (by
    :func:`trailscope.ingest_where.compile_where`, above the lake: it translates Athena SQL)."""

    #: DuckDB SQL returning the ROW of every row to keep, over the view named ``view``
    sql: str
    #: nested columns the condition reads
    nested: tuple[str, ...] = ()
    #: DuckDB macros the translated condition may call (Athena's functions)
    macros: tuple[str, ...] = ()
    #: view columns computed from the row's own values (partition and Athena-layout columns)
    view_columns: tuple[tuple[str, str], ...] = ()
    view: str = "cloudtrail"


#: Turns a ``where`` text into :class:`WhereSQL`, or raises :class:`FilterError`.
WhereCompiler = Callable[[str], WhereSQL]


@dataclass(frozen=True)
class CompiledFilters:
    """Checked filters, ready for workers (picklable: plain texts and tuples)."""

    #: the settings as given (recorded in each ingest commit, which repair reads)
    filters: IngestFilters
    exclude_sources: tuple[str, ...] = ()
    exclude_events: tuple[str, ...] = ()
    where: WhereSQL | None = None
    #: column paths to blank, e.g. ("useridentity", "accesskeyid")
    redact: tuple[tuple[str, ...], ...] = ()

    @property
    def drops_rows(self) -> bool:
        return bool(self.exclude_sources or self.exclude_events or self.where)


def compile_filters(
    filters: IngestFilters, compile_where: WhereCompiler | None = None
) -> CompiledFilters | None:
    """Check ``filters`` and make them ready for workers; None when there is nothing to do.
    ``compile_where`` translates the condition (the lake imports no SQL translator: the
    caller passes :func:`trailscope.ingest_where.compile_where`). Raises
    :class:`FilterError` with the problem and a hint."""
    if filters.empty:
        return None
    where = None
    if filters.where:
        if compile_where is None:
            raise FilterError(
                "this --where condition cannot be checked here",
                hint="open the lake with trailscope.Lake, which checks and applies it",
            )
        where = compile_where(filters.where)
    return CompiledFilters(
        filters,
        filters.exclude_sources,
        filters.exclude_events,
        where,
        tuple(_redact_path(p) for p in filters.redact),
    )


# --------------------------------------------------------------------------- checking


def duckdb_message(exc: Exception) -> str:
    """DuckDB's first line, without the name of the internal column or view."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(f'"{ROW}", ', "").replace(f', "{ROW}"', "")


def _redact_path(text: str) -> tuple[str, ...]:
    """``useridentity.accesskeyid`` -> ("useridentity", "accesskeyid"), checked against the
    lake's schema (lists of records, such as ``resources``, are stepped into)."""
    parts = tuple(p.strip().lower() for p in text.split("."))
    if not all(parts):
        raise FilterError(f"--redact {text!r}: not a field path", hint=_redact_hint(text))
    if parts[0] in REQUIRED:
        raise FilterError(
            f"--redact {text}: the lake needs this field in every event ({REQUIRED[parts[0]]})",
            hint="redact other fields; leave out whole events with --exclude-event or --where",
        )
    typ: pa.DataType | None = None
    for i, name in enumerate(parts):
        if i == 0:
            at = FILE_SCHEMA.get_field_index(name)
            typ = FILE_SCHEMA.field(at).type if at >= 0 else None
        else:
            assert typ is not None
            if pa.types.is_list(typ):
                typ = typ.value_type
            if not pa.types.is_struct(typ):
                where = ".".join(parts[:i])
                why = "JSON text" if where in _JSON_COLUMNS else "a single value"
                raise FilterError(
                    f"--redact {text}: {where} is {why}, so it can only be redacted whole",
                    hint=f"--redact {where}",
                )
            at = typ.get_field_index(name)
            typ = typ.field(at).type if at >= 0 else None
        if typ is None:
            raise FilterError(
                f"--redact {text}: the lake has no field {'.'.join(parts[: i + 1])}",
                hint=_redact_hint(text),
            )
    return parts


def _redact_hint(text: str) -> str:
    close = difflib.get_close_matches(text.lower(), redactable_paths(), n=1)
    if close:
        return f"did you mean {close[0]}? Fields are named as in the cloudtrail table"
    return "fields are named as in the cloudtrail table, e.g. useridentity.accesskeyid"


def redactable_paths() -> list[str]:
    """Every field path --redact accepts, for hints."""
    out: list[str] = []

    def walk(name: str, typ: pa.DataType) -> None:
        out.append(name)
        if pa.types.is_list(typ):
            typ = typ.value_type
        if pa.types.is_struct(typ):
            for child in typ:
                walk(f"{name}.{child.name}", child.type)

    for f in FILE_SCHEMA:
        if f.name not in REQUIRED:
            walk(f.name, f.type)
    return out


# --------------------------------------------------------------------------- applying

_CONNECTIONS: dict[tuple[str, ...], duckdb.DuckDBPyConnection] = {}


def connection(macros: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with Athena's functions, one thread (a worker has one core), and
    no access to files: the condition reads the batch's rows and nothing else."""
    from trailscope.duckconn import connect

    con = connect({"threads": "1"})
    con.execute("SET TimeZone = 'UTC'")
    for macro in macros:
        con.execute(f"CREATE OR REPLACE MACRO {macro}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def register(con: duckdb.DuckDBPyConnection, rows: pa.Table, where: WhereSQL) -> None:
    """Show ``rows`` to ``con`` as the view the condition reads, with its computed columns."""
    con.register("_trailscope_rows", rows)
    computed = "".join(f', {expr} AS "{name}"' for name, expr in where.view_columns)
    con.execute(
        f'CREATE OR REPLACE TEMP VIEW "{where.view}" AS SELECT *{computed} FROM _trailscope_rows'
    )


def apply_filters(
    table: pa.Table,
    reference_rows: int,
    filters: CompiledFilters,
    materialize: Callable[[pa.Table], pa.Table],
) -> tuple[pa.Table, int, int]:
    """``table`` without the rows the filters leave out; returns it, how many of its first
    ``reference_rows`` rows (only compared against) are left, and how many of the other rows
    were left out. ``materialize`` puts nested values in place (see ``NestedValues``)."""
    if not filters.drops_rows or table.num_rows == 0:
        return table, reference_rows, 0
    keep = _where_mask(table, filters.where, materialize) if filters.where else None
    for column, patterns in (
        ("eventsource", filters.exclude_sources),
        ("eventname", filters.exclude_events),
    ):
        if patterns:
            kept = pc.invert(_matches(table.column(column), patterns))
            keep = kept if keep is None else pc.and_(keep, kept)
    assert keep is not None
    keep = pa.chunked_array(keep) if isinstance(keep, pa.Array) else keep
    total = int(pc.sum(keep).as_py() or 0)
    context = int(pc.sum(keep.slice(0, reference_rows)).as_py() or 0) if reference_rows else 0
    dropped = (table.num_rows - reference_rows) - (total - context)
    if total == table.num_rows:
        return table, reference_rows, 0
    return table.filter(keep), context, dropped


def _matches(column: pa.ChunkedArray, patterns: tuple[str, ...]) -> pa.ChunkedArray:
    """True where the value is one of ``patterns`` (``*``: any run of characters); computed on
    each chunk's distinct values when it is a dictionary."""
    exact = [p for p in patterns if "*" not in p]
    like = [_like(p) for p in patterns if "*" in p]

    def match(values: pa.Array) -> pa.Array:
        hit = pc.is_in(values, value_set=pa.array(exact, pa.string()))
        for pattern in like:
            hit = pc.or_(hit, pc.match_like(values, pattern))
        return pc.fill_null(hit, False)

    chunks = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            hit = match(chunk.dictionary).take(chunk.indices)
            chunks.append(pc.fill_null(hit, False))
        else:
            chunks.append(match(chunk))
    return pa.chunked_array(chunks, pa.bool_())


def _like(pattern: str) -> str:
    escaped = re.sub(r"([\\%_])", r"\\\1", pattern)
    return escaped.replace("*", "%")


def _where_mask(
    table: pa.Table, where: WhereSQL, materialize: Callable[[pa.Table], pa.Table]
) -> pa.ChunkedArray:
    """True for the rows the condition accepts (NULL counts as false, as after WHERE)."""
    import duckdb

    rows = table
    if where.nested:
        values = materialize(table.select(list(where.nested)))
        for name in where.nested:
            at = rows.schema.get_field_index(name)
            rows = rows.set_column(at, values.schema.field(name), values.column(name))
    positions = pa.array(range(table.num_rows), pa.int64())
    rows = rows.append_column(ROW, positions)
    con = _CONNECTIONS.get(where.macros)
    if con is None:
        con = _CONNECTIONS[where.macros] = connection(where.macros)
    try:
        register(con, rows, where)
        kept = con.sql(where.sql).to_arrow_table().column(0)
    except duckdb.Error as exc:
        keys = table.column(SOURCEKEY).unique().to_pylist()[:1]
        raise FilterError(
            f"--where failed on the events of {keys[0] if keys else 'a batch'}: "
            f"{duckdb_message(exc)}",
            hint="make the condition hold for every value (try_cast, coalesce), "
            "then ingest again: nothing of this batch was stored",
        ) from None
    finally:
        con.unregister("_trailscope_rows")
    return pa.chunked_array([pc.is_in(positions, value_set=kept.combine_chunks())])


def redact(table: pa.Table, paths: tuple[tuple[str, ...], ...]) -> pa.Table:
    """``table`` with the fields at ``paths`` set to NULL (the rest of each value kept)."""
    for path in paths:
        at = table.schema.get_field_index(path[0])
        if at < 0:
            continue
        column = table.column(at)
        blanked = [_blank(chunk, path[1:]) for chunk in column.chunks]
        table = table.set_column(at, table.schema.field(at), pa.chunked_array(blanked, column.type))
    return table


def _blank(values: pa.Array, rest: tuple[str, ...]) -> pa.Array:
    if not rest:
        return pa.nulls(len(values), values.type)
    if pa.types.is_list(values.type):
        inner = _blank(values.values, rest)
        mask = values.is_null() if values.null_count else None
        return pa.ListArray.from_arrays(values.offsets, inner, type=values.type, mask=mask)
    assert isinstance(values, pa.StructArray)
    fields = list(values.type)
    children = values.flatten()
    i = values.type.get_field_index(rest[0])
    children[i] = _blank(children[i], rest[1:])
    mask = values.is_null() if values.null_count else None
    return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
