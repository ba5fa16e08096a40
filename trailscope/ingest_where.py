"""The ``--where`` condition of the lake's ingest filters, checked and translated like any query.

The condition is Athena SQL over the columns of the ``cloudtrail`` table, as after WHERE in a
query; it is parsed by the same parser as ``trailscope query`` (one statement, read-only),
must be a condition on one event (no subquery, no aggregate), is translated for DuckDB with the
same rules (JSON dot access, IP ranges, Trino's functions as macros), and is bound once by
DuckDB against an empty table of the lake's columns: a misspelt column or a condition that is
not true or false fails here, before any file is read, with a hint. The lake's workers then run
it on each batch (:mod:`trailscope.lake.filters`); it lives here because the lake imports no
SQL translator.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from trailscope.decode.schema import BATCH_SCHEMA, EVENTTIME_TS, PARTITION
from trailscope.lake.filters import (
    NESTED_COLUMNS,
    ROW,
    WhereSQL,
    connection,
    duckdb_message,
    register,
)
from trailscope.lake.settings import FilterError
from trailscope.sql import COMPAT_COLUMNS, TABLE, QueryError, parse, suggest_column, translate

WHERE_HINT = (
    "write one condition over the columns of the cloudtrail table, as after WHERE in Athena, "
    "e.g. --where \"eventname = 'ConsoleLogin' OR useragent = 'console.amazonaws.com'\""
)
_MISSING = re.compile(r'(?:Referenced column|Could not find key) "([^"]+)"')


def compile_where(where: str) -> WhereSQL:
    """``where`` ready for the lake's workers; raises :class:`FilterError` with the problem
    and a hint when it cannot run on each event."""
    from sqlglot import exp

    from trailscope.engines.duckdb import MACROS

    # On a line of its own, so a trailing comment cannot swallow the closing parenthesis,
    # and line numbers of errors are the condition's own (minus the SELECT line).
    wrapped = f"SELECT * FROM {TABLE} WHERE (\n{where}\n)"
    try:
        tree = parse(wrapped)
    except QueryError as exc:
        message = f"--where is not valid SQL: {_condition_error(exc, where)}"
        raise FilterError(message, hint=WHERE_HINT) from None
    extra = sorted(k for k, v in tree.args.items() if v and k not in ("expressions", "from_"))
    condition = tree.args.get("where")
    if not isinstance(tree, exp.Select) or extra != ["where"] or condition is None:
        raise FilterError(
            "--where must be one condition, not a query or a clause of one", hint=WHERE_HINT
        )
    if condition.find(exp.Select) is not None:
        raise FilterError(
            "--where cannot contain a subquery: it is decided for each event alone",
            hint=WHERE_HINT,
        )
    if condition.find(exp.AggFunc) is not None or condition.find(exp.Window) is not None:
        raise FilterError(
            "--where cannot use aggregate or window functions (count, sum, row_number...): "
            "it is decided for each event alone",
            hint=WHERE_HINT,
        )
    names = {i.name.lower() for i in condition.find_all(exp.Identifier)}
    keep_sql = translate(f"SELECT {ROW} FROM {TABLE} WHERE (\n{where}\n)").sql
    typed_sql = translate(f"SELECT (\n{where}\n) AS keep FROM {TABLE}").sql
    day = (PARTITION, f"strftime({EVENTTIME_TS}, '%Y-%m-%d')")
    compiled = WhereSQL(
        keep_sql,
        tuple(sorted(names & NESTED_COLUMNS)),
        MACROS if "athena_" in keep_sql.lower() else (),
        (day, *COMPAT_COLUMNS.items()),
        TABLE,
    )
    _check_on_empty_rows(compiled, typed_sql)
    return compiled


def _condition_error(exc: Any, where: str) -> str:
    """A parse error's message with the line counted within the condition."""
    message = str(exc.message)
    if exc.line is not None:
        message = message.rsplit(" (line ", 1)[0]
        line = exc.line - 1
        if line > len(where.splitlines()):
            message += " (at the end of the condition)"
        else:
            message += f" (line {max(1, line)}" + (f", column {exc.column})" if exc.column else ")")
    return message


def _check_on_empty_rows(where: WhereSQL, typed_sql: str) -> None:
    """Bind the condition against the lake's columns (no rows): unknown columns, functions
    and types fail here, with DuckDB's own words and a 'did you mean'."""
    import duckdb

    con = connection(where.macros)
    try:
        empty = BATCH_SCHEMA.empty_table()
        register(con, empty.append_column(ROW, pa.array([], pa.int64())), where)
        try:
            con.execute(where.sql).fetchall()
            kind = con.execute(f"DESCRIBE {typed_sql}").fetchall()[0][1]
        except duckdb.Error as exc:
            raise FilterError(
                f"--where cannot run: {duckdb_message(exc)}", hint=_column_hint(exc)
            ) from None
        if kind not in ("BOOLEAN", '"NULL"', "NULL"):
            raise FilterError(
                f"--where must be true or false for each event, but it gives {kind}",
                hint=WHERE_HINT,
            )
    finally:
        con.close()


def _column_hint(exc: Exception) -> str:
    """'did you mean ...' for a misspelt column or field, else how to write a condition."""
    m = _MISSING.search(str(exc))
    guess = suggest_column(m.group(1)) if m else None
    return f"did you mean {guess}?" if guess else WHERE_HINT
