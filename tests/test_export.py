"""Exports: RFC 4180 CSV, JSON, NDJSON and Parquet, streamed, with empty results handled."""

from __future__ import annotations

import decimal
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailscope.export import write_csv, write_json, write_ndjson, write_parquet

TABLE = pa.table(
    {
        "name": ["plain", "has,comma", 'has "quote"', None],
        "count": pa.array([decimal.Decimal(3)] * 3 + [None], pa.decimal128(38, 0)),
        "ident": [{"type": "Root"}, None, {"type": "IAMUser"}, None],
    }
)


def _reader(table: pa.Table, chunk: int = 2) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=chunk))


def test_csv_is_rfc4180_with_nested_values_as_json() -> None:
    out = io.BytesIO()
    assert write_csv(_reader(TABLE), out) == 4
    assert out.getvalue().decode().split("\r\n") == [
        '"name","count","ident"',
        '"plain",3,"{""type"":""Root""}"',
        '"has,comma",3,',
        '"has ""quote""",3,"{""type"":""IAMUser""}"',
        ",,",
        "",
    ]


def test_json_and_ndjson_keep_integers_and_nesting() -> None:
    out = io.BytesIO()
    write_json(_reader(TABLE), out)
    rows = json.loads(out.getvalue())
    assert rows[0] == {"name": "plain", "count": 3, "ident": {"type": "Root"}}
    out = io.BytesIO()
    assert write_ndjson(_reader(TABLE), out) == 4
    assert [json.loads(x)["name"] for x in out.getvalue().splitlines()] == TABLE["name"].to_pylist()


def test_empty_results_are_still_valid_files(tmp_path: Path) -> None:
    empty = TABLE.slice(0, 0)
    out = io.BytesIO()
    write_csv(_reader(empty), out)
    assert out.getvalue() == b"name,count,ident\r\n"
    out = io.BytesIO()
    write_json(_reader(empty), out)
    assert json.loads(out.getvalue()) == []
    assert write_parquet(_reader(empty), str(tmp_path / "e.parquet")) == 0
    assert pq.read_table(tmp_path / "e.parquet").schema == TABLE.schema


def test_parquet_round_trip(tmp_path: Path) -> None:
    assert write_parquet(_reader(TABLE), str(tmp_path / "r.parquet")) == 4
    assert pq.read_table(tmp_path / "r.parquet").equals(TABLE)
