"""The embedded default engine: DuckDB over the lake's Parquet files, in-process.

The ``cloudtrail`` view is built over the files the manifest says are live (not a glob), so a
query never sees a part that is still being published. Partition values are declared VARCHAR:
left to inference, ``event_date`` would come back as a DATE and account-like values as numbers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from trailscope.decode.schema import PARTITION, TABLE_SCHEMA
from trailscope.sql import COMPAT_COLUMNS, TABLE, QueryError, suggest_column


class QueryTimeout(QueryError):
    """The query ran longer than its time limit and was cancelled."""


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, files: Sequence[Path], *, threads: int | None = None) -> None:
        self.files = [str(f) for f in files]
        self.con = duckdb.connect(config={"threads": threads} if threads else {})
        self._create_view()

    def close(self) -> None:
        self.con.close()

    def _create_view(self) -> None:
        compat = ", ".join(f'{expr} AS "{name}"' for name, expr in COMPAT_COLUMNS.items())
        if self.files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
            source = (
                f"read_parquet([{listed}], hive_partitioning = true, "
                f"hive_types = {{'{PARTITION}': VARCHAR}})"
            )
        else:  # an empty lake still has the full schema, so queries bind and return no rows
            self.con.register("_empty_events", TABLE_SCHEMA.empty_table())
            source = "_empty_events"
        self.con.execute(f"CREATE OR REPLACE VIEW {TABLE} AS SELECT *, {compat} FROM {source}")

    def query(
        self, sql: str, *, timeout: float | None = None, params: Sequence[Any] | None = None
    ) -> pa.Table:
        """Run ``sql`` (engine dialect) and return the whole result as Arrow."""
        reader = self.reader(sql, timeout=timeout, params=params)
        try:
            return reader.read_all()
        except duckdb.InterruptException:
            raise QueryTimeout(
                f"query cancelled after {timeout:g} s",
                hint="narrow the time range or raise --timeout",
            ) from None

    def reader(
        self,
        sql: str,
        *,
        timeout: float | None = None,
        params: Sequence[Any] | None = None,
        batch_size: int = 65536,
    ) -> pa.RecordBatchReader:
        """Stream the result in batches (exports of millions of rows stay small in memory)."""
        timer = threading.Timer(timeout, self.con.interrupt) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            reader = self.con.sql(sql, params=params or None).to_arrow_reader(batch_size)
        except duckdb.InterruptException:
            raise QueryTimeout(
                f"query cancelled after {timeout:g} s",
                hint="narrow the time range or raise --timeout",
            ) from None
        except duckdb.Error as exc:
            raise _query_error(exc) from None
        finally:
            if timer:
                timer.cancel()
        return reader

    def explain(self, sql: str) -> str:
        rows = self.con.execute(f"EXPLAIN ANALYZE {sql}").fetchall()
        return "\n".join(str(r[-1]) for r in rows)


_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_FIELD = re.compile(r'Could not find key "([^"]+)" in struct')
_LINE = re.compile(r"LINE (\d+):")


def _query_error(exc: duckdb.Error) -> QueryError:
    text = str(exc)
    first = text.splitlines()[0]
    m = _MISSING_COLUMN.search(text) or _MISSING_FIELD.search(text)
    hint = None
    if m:
        guess = suggest_column(m.group(1))
        hint = f"did you mean {guess}?" if guess else "see 'trailscope query --columns'"
    line = _LINE.search(text)
    return QueryError(first, line=int(line.group(1)) if line else None, hint=hint)
