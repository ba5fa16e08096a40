"""The Athena cost estimate against what a real Parquet reader actually reads.

Athena is not here, but DuckDB reads the same files the same way for plain column scans (the
column chunks of the needed columns, of the partitions left after pruning, plus the footers).
The bytes DuckDB reads are measured by the kernel (``rchar`` of /proc/self/io, every byte the
process read through read/pread), independently of the estimate's own arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from trailscope import Lake
from trailscope.athena.estimate import (
    MIN_BILLED_BYTES,
    billed,
    dollars,
    estimate_scan,
)
from trailscope.engines.duckdb import DuckDBEngine
from trailscope.synth import synth_trail

DAY = "2024-07-16"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("athena-estimate")
    synth_trail(root / "trail", events=15_000, seed=21, days=3)
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    return lk


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _duckdb_bytes(lake: Lake, sql: str, day: str | None) -> int:
    """Bytes DuckDB reads for ``sql``; with ``day``, over that day's folder only, as Athena's
    partition projection would (DuckDB itself opens every listed file's footer)."""
    files = lake.files()
    if day is not None:
        files = sorted((lake.root / "events" / f"event_date={day}").glob("*.parquet"))
    engine = DuckDBEngine(files, threads=1)
    try:
        engine.con.execute("SET enable_external_file_cache = false")
        engine.con.execute("SET parquet_metadata_cache = false")
        translated = lake.sql_for(sql).sql
        before = _bytes_read()
        engine.query(translated)
        return _bytes_read() - before
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("sql", "day"),
    [
        ("SELECT eventname, sourceipaddress, eventid FROM cloudtrail", None),
        ("SELECT * FROM cloudtrail", None),
        (
            # Hours inside the day: a whole day's range would hold for every row by the row
            # groups' statistics, and DuckDB would not read eventtime at all.
            "SELECT eventsource, requestparameters, responseelements FROM cloudtrail "
            f"WHERE eventtime BETWEEN '{DAY}T06:00:00Z' AND '{DAY}T17:59:59Z'",
            DAY,
        ),
        ("SELECT useridentity.arn, requestparameters FROM cloudtrail", None),
    ],
    ids=["three-columns", "star", "one-day", "nested-field"],
)
def test_estimate_is_close_to_the_bytes_a_parquet_reader_reads(
    lake: Lake, sql: str, day: str | None
) -> None:
    # Compared without the footers: DuckDB reads them in its own sized chunks (what a
    # count(*), which needs no column data, reads), and they are a large share of these
    # small test files, though not of real ones.
    estimate = estimate_scan(lake.files(), sql)
    files = lake.files() if day is None else list(lake.root.glob(f"events/event_date={day}/*"))
    footers = sum(pq.ParquetFile(f).metadata.serialized_size + 8 for f in files)
    actual = _duckdb_bytes(lake, sql, day) - _duckdb_bytes(
        lake, "SELECT count(*) FROM cloudtrail", day
    )
    estimated = estimate.bytes - footers
    assert 0.85 <= estimated / actual <= 1.15, (estimated, actual)


def test_partitions_are_the_days_the_query_can_touch(lake: Lake) -> None:
    days = [
        r["d"] for r in lake.query("SELECT DISTINCT event_date AS d FROM cloudtrail").to_pylist()
    ]
    assert len(days) == 3
    whole = estimate_scan(lake.files(), "SELECT eventname FROM cloudtrail")
    assert (whole.partitions, whole.partitions_total, whole.files) == (3, 3, len(lake.files()))
    one = estimate_scan(
        lake.files(),
        "SELECT eventname FROM cloudtrail WHERE eventtime >= :since AND eventtime <= :until",
        params={"since": f"{DAY}T06:00:00Z", "until": f"{DAY}T18:00:00Z"},
    )
    assert one.partitions == 1
    assert one.scans[0].partitions == [DAY]
    assert 0 < one.bytes < whole.bytes


def test_each_scan_of_a_self_join_is_counted(lake: Lake) -> None:
    single = estimate_scan(lake.files(), "SELECT eventid FROM cloudtrail")
    joined = estimate_scan(
        lake.files(),
        "SELECT a.eventid FROM cloudtrail a JOIN cloudtrail b ON a.eventid = b.sharedeventid",
    )
    assert len(joined.scans) == 2
    assert sorted(s.columns for s in joined.scans) == [["eventid"], ["sharedeventid"]]
    assert joined.bytes > single.bytes


def test_billing_rounds_up_to_megabytes_with_a_10_mb_minimum() -> None:
    assert billed(0) == MIN_BILLED_BYTES == 10 * 1024**2
    assert billed(10 * 1024**2 + 1) == 11 * 1024**2
    assert dollars(1024**4) == pytest.approx(5.0)
    assert dollars(1) == pytest.approx(10 * 1024**2 / 1024**4 * 5)
