"""Lake.query and Lake.run keep one engine while the lake stays the same, and never answer
from a lake that has changed since."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from trailscope import Lake
from trailscope.engines import duckdb as duckdb_engine
from trailscope.engines.duckdb import QueryTimeout
from trailscope.integrity.record import VALIDATION_TABLE, record_validation
from trailscope.integrity.verify import verify_trail
from trailscope.sql import QueryError


def _write(path: Path, ids: list[str], when: str = "2024-07-01T10:00:00Z") -> None:
    events = [
        {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "userName": "alice"},
            "eventTime": when,
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "eventID": event_id,
            "recipientAccountId": "111122223333",
        }
        for event_id in ids
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))


@pytest.fixture
def engines_opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    original = duckdb_engine.DuckDBEngine.__init__

    def counting(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        opened.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(duckdb_engine.DuckDBEngine, "__init__", counting)
    return opened


DAY = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
COUNT = "SELECT count(*) AS n FROM cloudtrail"


def test_queries_share_one_engine_until_another_commit(
    tmp_path: Path, engines_opened: list[int]
) -> None:
    src = tmp_path / "src"
    _write(src / DAY / "one.json.gz", ["a", "b"])
    Lake(tmp_path / "lake").ingest(str(src), workers=1)
    with Lake(tmp_path / "lake") as lake:
        assert lake.query(COUNT).to_pylist() == [{"n": 2}]
        lake.run("events-in-window", since="2024-06-01")
        assert lake.query(COUNT).to_pylist() == [{"n": 2}]
        assert len(engines_opened) == 1

        # Another process (here: another Lake object) commits: the next query sees it.
        _write(src / DAY / "two.json.gz", ["c"], when="2024-07-01T11:00:00Z")
        Lake(tmp_path / "lake").ingest(str(src), workers=1)
        before = len(engines_opened)
        assert lake.query(COUNT).to_pylist() == [{"n": 3}]
        assert len(engines_opened) == before + 1
        assert lake.run("events-in-window", since="2024-06-01").num_rows == 3


def test_a_new_verification_record_is_seen_by_the_next_query(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / DAY / "one.json.gz", ["a"])
    Lake(tmp_path / "lake").ingest(str(src), workers=1)
    with Lake(tmp_path / "lake") as lake:
        validation = "SELECT count(*) AS n FROM cloudtrail_validation"
        assert lake.query(validation).to_pylist() == [{"n": 0}]
        report = verify_trail(str(src))
        assert record_validation(Lake(tmp_path / "lake"), report) > 0
        assert VALIDATION_TABLE in lake.state().tables
        assert lake.query(validation).to_pylist()[0]["n"] > 0


def test_closing_a_lake_closes_its_engine_and_it_reopens_on_demand(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src / DAY / "one.json.gz", ["a"])
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(src), workers=1)
    assert lake.query(COUNT).to_pylist() == [{"n": 1}]
    lake.close()
    assert lake.query(COUNT).to_pylist() == [{"n": 1}]
    lake.close()


def test_a_query_past_its_time_limit_is_cancelled_and_the_engine_still_answers() -> None:
    engine = duckdb_engine.DuckDBEngine([])
    try:
        with pytest.raises(QueryTimeout) as caught:
            engine.query("SELECT sum(i) FROM range(100000000000) AS t(i)", timeout=0.3)
        assert caught.value.message == "query cancelled after 0.3 s"
        assert engine.query("SELECT 41 + 1 AS n").to_pylist() == [{"n": 42}]
        with pytest.raises(QueryError, match="nope"):
            engine.query("SELECT nope FROM range(3)")
    finally:
        engine.close()


def test_the_engine_caches_parquet_footers_and_still_sees_a_file_rewritten_in_place(
    tmp_path: Path,
) -> None:
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"eventname": ["GetObject"] * 3}), part)
    engine = duckdb_engine.DuckDBEngine([])
    cursor = engine.cursor()
    try:
        for con in (engine.con, cursor.con):
            setting = con.execute("SELECT current_setting('parquet_metadata_cache')").fetchone()
            assert setting == (True,)
        count = f"SELECT count(*) FROM read_parquet('{part}')"
        assert engine.con.execute(count).fetchone() == (3,)
        # Lake parts are never rewritten, but another tool might: the cached footer of the
        # old file must not answer for the new one.
        pq.write_table(pa.table({"eventname": ["PutObject"] * 5}), part)
        stat = part.stat()
        os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        assert engine.con.execute(count).fetchone() == (5,)
    finally:
        cursor.close()
        engine.close()
