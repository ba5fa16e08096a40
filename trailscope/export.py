"""Query results out: CSV, JSON, NDJSON, Parquet, streamed batch by batch.

Each writer consumes a RecordBatchReader, so a 10-million-row export holds one batch in memory,
not the result. CSV follows RFC 4180 (header row, quoted when needed, UTF-8); nested values
(structs, lists) are written as JSON text in CSV, as JSON in JSON/NDJSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trailscope.errors import TrailscopeError

FORMATS = ("table", "csv", "json", "ndjson", "parquet")
#: Written before CSV meant for Excel, which otherwise reads UTF-8 as the local code page.
UTF8_BOM = b"\xef\xbb\xbf"
#: A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        # DuckDB returns 128-bit integers (count_if, sums) as decimals: keep them integers.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError


def _json_rows(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    for batch in reader:
        for row in batch.to_pylist():
            yield orjson.dumps(row, default=_default, option=orjson.OPT_NAIVE_UTC)


def write_ndjson(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    n = 0
    for line in _json_rows(reader):
        out.write(line + b"\n")
        n += 1
    return n


def write_json(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    """A JSON array, written incrementally (valid JSON even for an empty result)."""
    n = 0
    out.write(b"[")
    for line in _json_rows(reader):
        out.write(b",\n" if n else b"\n")
        out.write(line)
        n += 1
    out.write(b"\n]\n" if n else b"]\n")
    return n


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV has no nesting: structs, lists and maps become JSON text."""
    columns = []
    for col, field in zip(batch.columns, batch.schema, strict=True):
        t = field.type
        if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_map(t):
            texts = [
                None if v is None else orjson.dumps(v, default=_default).decode()
                for v in col.to_pylist()
            ]
            col = pa.array(texts, pa.string())
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


#: RFC 4180: CRLF line ends, fields quoted only when they need it, header always written.
_CSV_OPTIONS = pacsv.WriteOptions(quoting_style="needed", quoting_header="needed", eol="\r\n")


def write_csv(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    n = 0
    writer = None
    for batch in reader:
        batch = _csv_ready(batch)
        if writer is None:
            writer = pacsv.CSVWriter(out, batch.schema, write_options=_CSV_OPTIONS)
        writer.write_batch(batch)
        n += batch.num_rows
    if writer is None:  # no batches at all: still write the header
        out.write((",".join(_csv_quote(x) for x in reader.schema.names) + "\r\n").encode())
    else:
        writer.close()
    return n


def _csv_quote(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def defuse_formulas(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The same batches with text cells that start like a formula given a leading apostrophe:
    event fields are attacker-controlled, and a CSV for Excel is opened in a spreadsheet."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = []
            for column in batch.columns:
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    starts = pc.utf8_slice_codeunits(column, 0, 1)
                    risky = pc.is_in(starts, value_set=pa.array(FORMULA_STARTS))
                    column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
                columns.append(column)
            yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def write_parquet(reader: pa.RecordBatchReader, path: str | IO[bytes]) -> int:
    """A Parquet file (zstd) at ``path``, or written to a binary stream such as a pipe."""
    n = 0
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            n += batch.num_rows
    return n


#: What a query result can be written as (a file, not the terminal).
EXPORT_FORMATS = ("csv", "json", "ndjson", "parquet")


def format_of(dest: str | os.PathLike[str] | IO[bytes]) -> str:
    """The export format a path's suffix names (``.csv``, ``.json``, ``.ndjson``/``.jsonl``,
    ``.parquet``)."""
    if not isinstance(dest, str | os.PathLike):
        raise TrailscopeError("give format= when exporting to a file object")
    suffix = Path(dest).suffix.lower().lstrip(".")
    chosen = {"jsonl": "ndjson", "pq": "parquet"}.get(suffix, suffix)
    if chosen not in ("csv", "json", "ndjson", "parquet"):
        raise TrailscopeError(
            f"cannot tell the export format of {os.fspath(dest)!r}",
            hint="name it .csv, .json, .ndjson or .parquet, or give format=",
        )
    return chosen


def format_named(name: str) -> str:
    """``name`` when it is an export format; a one-line error otherwise."""
    if name not in EXPORT_FORMATS:
        raise TrailscopeError(f"cannot export as {name!r}", hint="use csv, json, ndjson or parquet")
    return name


def write_to(
    reader: pa.RecordBatchReader, dest: str | os.PathLike[str] | IO[bytes], fmt: str
) -> int:
    """Write the batches to a path or a binary file in ``fmt``; the rows written."""
    if fmt == "parquet":
        target = os.fspath(dest) if isinstance(dest, str | os.PathLike) else dest
        return write_parquet(reader, target)
    writer = {"csv": write_csv, "json": write_json, "ndjson": write_ndjson}[format_named(fmt)]
    if isinstance(dest, str | os.PathLike):
        with open(dest, "wb") as out:
            return writer(reader, out)
    return writer(reader, dest)
