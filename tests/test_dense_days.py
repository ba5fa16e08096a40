"""Dense days (many events per day) in bounded memory: the committing process keeps 8 bytes
per event id of the days in flight, and never merges a large day beside the workers.

benchmarks/dense_days_bench.py measures the real thing (10M events over 2 days); these tests
check, at a small scale, the two properties that keep its peak down, and that the lake holds
exactly what it held before (expectations from the trail files, see trailfiles.py).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from trailfiles import lake_event_ids, trail_events, unique_event_ids

from trailscope import Lake
from trailscope.lake import commit, compact, dedup
from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trail whose days are dense for its size: 24,000 events over 2 days, one account."""
    root = tmp_path_factory.mktemp("dense-trail")
    synth_trail(root, events=24_000, seed=5, days=2, accounts=1, redeliver_fraction=0.01)
    return root


@pytest.fixture
def index_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """(bytes the dedup index holds, event ids it holds) after every commit of a run."""
    sizes: list[tuple[int, int]] = []
    real = commit.commit_batch

    def spy(manifest: Any, state: Any, index: dedup.DedupIndex, output: Any) -> Any:
        result = real(manifest, state, index, output)
        held = [ids for kept in index._ids.values() for _, ids in kept]
        sizes.append((index.nbytes(), sum(len(i.keys) + len(i.others) for i in held)))
        return result

    monkeypatch.setattr(commit, "commit_batch", spy)
    yield sizes


@pytest.mark.slow
def test_the_dedup_index_keeps_8_bytes_per_event_id(
    dense: Path, tmp_path: Path, index_sizes: list[tuple[int, int]]
) -> None:
    """Whatever the number of events a day, the ids it keeps cost 8 bytes each (they cost
    about 40 as text: 200 MB for a day of 5 million events)."""
    summary = Lake(tmp_path / "lake").ingest(str(dense), workers=1, batch_bytes=256 * 1024)
    assert summary.commits > 10
    nbytes, ids = max(index_sizes, key=lambda s: s[1])
    assert ids > 20_000  # both days' ids were held at once
    assert nbytes <= 8 * ids + 1024
    assert lake_event_ids(tmp_path / "lake") == unique_event_ids(trail_events(dense))


@pytest.mark.slow
def test_keys_that_collide_only_cost_a_comparison(
    dense: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id given the same key: each batch's rows are compared in full with the lake's,
    and the lake still holds every event once (re-deliveries dropped, nothing else)."""
    monkeypatch.setattr(dedup, "_KEY_MULTIPLIERS", (0,) * 9)
    assert dedup.id_keys(pa.array(["a" * 36, "b" * 36])).to_pylist() == [0, 0]
    lake = tmp_path / "lake"
    summary = Lake(lake).ingest(str(dense), workers=1, batch_bytes=256 * 1024)
    assert lake_event_ids(lake) == unique_event_ids(trail_events(dense))
    redelivered = sum(unique_event_ids(trail_events(dense)).values())
    assert summary.events_added == redelivered
    assert summary.duplicates_dropped == len(trail_events(dense)) - redelivered > 0


def test_ids_that_are_not_uuids_are_kept_as_they_are(tmp_path: Path) -> None:
    """Hand-made ids (short, or not 36 bytes) are compared as text: a copy delivered in a
    later run is dropped, a different event with another short id is kept."""

    def write(path: Path, ids: list[str]) -> None:
        records = [
            {
                "eventVersion": "1.08",
                "eventTime": "2024-07-16T10:00:00Z",
                "eventSource": "iam.amazonaws.com",
                "eventName": "ListUsers",
                "awsRegion": "us-east-1",
                "eventID": i,
                "recipientAccountId": "111122223333",
            }
            for i in ids
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))

    src = tmp_path / "src"
    write(src / "a.json.gz", ["e1", "e2", "x" * 37])
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(src), workers=1)
    write(src / "b.json.gz", ["e2", "e3", "x" * 37, "é" * 18])  # 36 bytes, not 36 characters
    second = lake.ingest(str(src), workers=1)
    assert second.duplicates_dropped == 2
    assert lake_event_ids(tmp_path / "lake") == {
        "e1": 1,
        "e2": 1,
        "e3": 1,
        "x" * 37: 1,
        "é" * 18: 1,
    }


@pytest.mark.slow
def test_large_merges_wait_for_the_end_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While batches are still being decoded, compaction only runs merges of at most
    IN_RUN_MAX_MERGE_ROWS rows; larger ones run at the end, and the lake ends the same."""
    trail = tmp_path / "trail"
    synth_trail(trail, events=11_000, seed=9, days=5, accounts=1)
    merges: list[tuple[bool, int]] = []  # (during the run, rows merged)
    running = [False]
    real_merge = compact.merge_parts

    def merge_spy(storage: Any, item: compact.CompactionPlan) -> Any:
        merges.append((running[0], sum(p.rows for p in item.merge)))
        return real_merge(storage, item)

    real_run = commit.commit_batch

    def commit_spy(*args: Any) -> Any:
        running[0] = True  # from the first batch's commit to the end of the batches
        return real_run(*args)

    monkeypatch.setattr(compact, "merge_parts", merge_spy)
    monkeypatch.setattr(commit, "commit_batch", commit_spy)
    monkeypatch.setattr(compact, "IN_RUN_MAX_MERGE_ROWS", 1_000)

    import trailscope.lake.ingest as ingest_module

    real_ingest = ingest_module.run_ingest

    def run_spy(*args: Any, **kw: Any) -> Any:
        try:
            return real_ingest(*args, **kw)
        finally:
            running[0] = False

    monkeypatch.setattr("trailscope.facade_ingest.run_ingest", run_spy)
    limited = tmp_path / "limited"
    Lake(limited).ingest(str(trail), workers=1, batch_bytes=96 * 1024)
    during = [rows for in_run, rows in merges if in_run]
    after = [rows for in_run, rows in merges if not in_run]
    assert during, "no merge ran during the run: the test needs more batches"
    assert max(during) <= 1_000
    assert after and max(after) > 1_000  # the large ones were left to the end, not skipped

    monkeypatch.setattr(compact, "IN_RUN_MAX_MERGE_ROWS", 10**9)
    merges.clear()
    unlimited = tmp_path / "unlimited"
    Lake(unlimited).ingest(str(trail), workers=1, batch_bytes=96 * 1024)
    assert max(rows for in_run, rows in merges if in_run) > 1_000
    assert _rows(limited) == _rows(unlimited)
    assert lake_event_ids(limited) == unique_event_ids(trail_events(trail))


def _rows(lake: Path) -> list[tuple]:
    """Every row of a lake, in a fixed order."""
    files = sorted(str(p) for p in (lake / "events").rglob("*.parquet"))
    return duckdb.sql(
        f"SELECT * FROM read_parquet({files!r}) "
        "ORDER BY eventtime_ts, eventid, eventname, requestid"
    ).fetchall()
