"""The lake's promises: exact round trips, incremental runs, crash safety, one writer, dedup."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from trailfiles import (
    copy_files,
    lake_event_ids,
    read_records,
    trail_event_files,
    trail_events,
    unique_event_ids,
)

from trailscope import Lake, open_lake
from trailscope.errors import LakeError, LakeLockedError
from trailscope.lake import ingest as ingest_mod
from trailscope.lake.dedup import DedupIndex
from trailscope.lake.lock import LOCK_FILE, WriterLock
from trailscope.sources.local import LocalSource
from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("trail")
    report = synth_trail(root, events=6000, seed=11, days=4, accounts=2)
    return root, report


def test_round_trip_has_exactly_the_events_synth_reports(trail, tmp_path: Path) -> None:
    root, report = trail
    summary = Lake(tmp_path / "lake").ingest(str(root), workers=2)
    expected = unique_event_ids(trail_events(root))
    assert sum(expected.values()) == report.events
    assert lake_event_ids(tmp_path / "lake") == expected
    assert summary.events_added == report.events
    assert summary.duplicates_dropped == report.redelivered_events
    assert summary.skipped == {"digest": report.digest_files, "other": report.other_files}
    assert summary.problems == 0
    planted = {eid for inc in report.incidents for eid in inc.event_ids}
    assert planted and planted <= set(expected)


def test_lake_files_read_by_plain_duckdb_and_pyarrow(trail, tmp_path: Path) -> None:
    root, report = trail
    Lake(tmp_path / "lake").ingest(str(root), workers=1)
    events_dir = tmp_path / "lake" / "events"
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT event_date), min(event_date) FROM read_parquet("
        f"'{events_dir}/**/*.parquet', hive_partitioning = true, "
        f"hive_types = {{'event_date': VARCHAR}})"
    ).fetchall()[0]
    assert rows[0] == report.events
    assert rows[1] == 4 or rows[1] == 5  # days, plus events just before midnight of day 0
    dataset = ds.dataset(events_dir, format="parquet", partitioning="hive")
    assert dataset.count_rows() == report.events
    sample = duckdb.sql(
        f"SELECT useridentity.sessioncontext.sessionissuer.username AS issuer, "
        f"json_extract_string(requestparameters, '$.roleArn') AS role "
        f"FROM read_parquet('{events_dir}/**/*.parquet') WHERE eventname = 'AssumeRole' "
        f"AND requestparameters IS NOT NULL LIMIT 1"
    ).fetchall()
    assert sample and sample[0][1].startswith("arn:aws:iam::")


def test_repetitive_fields_inside_structs_are_dictionary_encoded(trail, tmp_path: Path) -> None:
    """Identity ARNs and TLS details repeat endlessly; plain encoding doubles what queries read."""
    root, _ = trail
    Lake(tmp_path / "lake").ingest(str(root), workers=1)
    part = next((tmp_path / "lake" / "events").rglob("*.parquet"))
    meta = pq.ParquetFile(part).metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    for leaf in (
        "useridentity.arn",
        "useridentity.sessioncontext.sessionissuer.arn",
        "tlsdetails.clientprovidedhostheader",
        "resources.list.element.arn",
    ):
        assert "RLE_DICTIONARY" in encodings[leaf], leaf
    assert "RLE_DICTIONARY" in encodings["requestparameters"]  # most calls repeat theirs
    for unique in ("eventid", "requestid", "responseelements"):
        assert "RLE_DICTIONARY" not in encodings[unique], unique
    for random_ids in ("eventid", "requestid"):  # lengths apart: zstd compresses them faster
        assert "DELTA_LENGTH_BYTE_ARRAY" in encodings[random_ids], random_ids
    assert "DELTA_LENGTH_BYTE_ARRAY" not in encodings["eventtime"]  # slower for short texts


def test_row_groups_carry_time_statistics_for_pruning(trail, tmp_path: Path) -> None:
    """Time ranges are what lets a query skip row groups; the file must say them."""
    root, _ = trail
    Lake(tmp_path / "lake").ingest(str(root), workers=1)
    for part in (tmp_path / "lake" / "events").rglob("*.parquet"):
        meta = pq.ParquetFile(part).metadata
        table = pq.read_table(part, columns=["eventtime"]).column(0).to_pylist()
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        stats = meta.row_group(0).column(names.index("eventtime")).statistics
        assert stats is not None and stats.has_min_max
        assert (stats.min, stats.max) == (min(table), max(table))
        assert meta.row_group(0).column(names.index("eventtime_ts")).statistics.has_min_max


def _row_group_runs(part: Path) -> list[tuple[list, list]]:
    """Per row group: its (eventsource, eventname) per row, and its times."""
    pf = pq.ParquetFile(part)
    out = []
    for i in range(pf.metadata.num_row_groups):
        rows = pf.read_row_group(i, columns=["eventsource", "eventname", "eventtime_ts"])
        sources, names = (rows.column(c).to_pylist() for c in ("eventsource", "eventname"))
        keys = list(zip(sources, names, strict=True))
        out.append((keys, rows.column("eventtime_ts").to_pylist()))
    return out


def _grouped_in_time_order(keys: list, times: list) -> bool:
    """Each API's rows are one run, and within it in time order."""
    runs: dict = {}
    for at, key in enumerate(keys):
        runs.setdefault(key, []).append(at)
    return all(
        rows == list(range(rows[0], rows[-1] + 1))
        and [times[r] for r in rows] == sorted(times[r] for r in rows)
        for rows in runs.values()
    )


@pytest.mark.slow
def test_row_groups_are_slices_of_time_with_rows_grouped_by_api(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups prune on time; inside one, a query for a few calls finds them together."""
    from trailscope.lake import writer

    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 100)
    root, _ = trail
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(root), workers=1, batch_bytes=96 * 1024, compact=False)
    parts = list((tmp_path / "lake" / "events").rglob("*.parquet"))
    groups = [g for part in parts for g in _row_group_runs(part)]
    assert sum(pq.ParquetFile(p).metadata.num_row_groups > 1 for p in parts) > len(parts) / 2
    for part in parts:
        runs = _row_group_runs(part)
        for (keys, times), (_, later) in pairwise(runs):
            assert len(keys) == 100 and max(times) <= min(later)
    assert all(_grouped_in_time_order(keys, times) for keys, times in groups)
    assert any(len(set(keys)) > 5 for keys, _ in groups)
    ids_before = Counter(lake_event_ids(tmp_path / "lake"))
    assert lake.compact(full=True) > 0
    merged = [
        g for p in (tmp_path / "lake" / "events").rglob("*.parquet") for g in _row_group_runs(p)
    ]
    assert all(_grouped_in_time_order(keys, times) for keys, times in merged)
    for part in (tmp_path / "lake" / "events").rglob("*.parquet"):
        meta = pq.ParquetFile(part).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert set(sizes[:-1]) <= {100} and 0 < sizes[-1] <= 100  # whole row groups
    assert Counter(lake_event_ids(tmp_path / "lake")) == ids_before


def test_partitions_follow_event_time_not_delivery_folder(trail, tmp_path: Path) -> None:
    root, _ = trail
    Lake(tmp_path / "lake").ingest(str(root), workers=1)
    rows = duckdb.sql(
        f"SELECT event_date, min(eventtime), max(eventtime) FROM read_parquet("
        f"'{tmp_path}/lake/events/**/*.parquet', hive_partitioning = true, "
        f"hive_types = {{'event_date': VARCHAR}}) GROUP BY 1"
    ).fetchall()
    for day, lo, hi in rows:
        assert lo[:10] == day and hi[:10] == day
    # ... while some files do hold events of the previous day (delivered after midnight).
    crossing = 0
    for path in trail_event_files(root):
        folder_day = "-".join(path.parts[-4:-1])
        crossing += any(ev["eventTime"][:10] != folder_day for ev in read_records(path))
    assert crossing > 0


def test_incremental_reads_only_new_files_including_late_ones(trail, tmp_path: Path) -> None:
    root, report = trail
    files = trail_event_files(root)
    days = sorted({"-".join(p.parts[-4:-1]) for p in files})
    early = [p for p in files if "-".join(p.parts[-4:-1]) in days[:2]]
    late_file = early.pop()  # a file of an old day that "arrives" later
    src = tmp_path / "src"
    copy_files(early, root, src)
    lake = Lake(tmp_path / "lake")
    first = lake.ingest(str(src), workers=1)
    assert first.read == len(early)
    rest = [p for p in files if p not in early]
    assert late_file in rest
    copy_files(rest, root, src)
    second = lake.ingest(str(src), workers=2)
    assert second.already_ingested == len(early)
    assert second.read == len(rest)
    assert lake_event_ids(tmp_path / "lake") == unique_event_ids(trail_events(root))
    assert lake.info().events == report.log_events + report.insight_events
    third = lake.ingest(str(src), workers=1)
    assert third.read == 0 and third.events_added == 0


def test_changed_object_is_read_again_without_doubling(tmp_path: Path) -> None:
    src = tmp_path / "src"
    key = src / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01/x.json.gz"
    key.parent.mkdir(parents=True)
    a = _event("a", "2024-07-01T10:00:00Z")
    _write(key, [a])
    lake = Lake(tmp_path / "lake")
    assert lake.ingest(str(src), workers=1).events_added == 1
    b = _event("b", "2024-07-01T10:01:00Z")
    time.sleep(0.01)
    _write(key, [a, b])
    summary = lake.ingest(str(src), workers=1)
    assert summary.read == 1
    assert summary.events_added == 1 and summary.duplicates_dropped == 1
    assert lake_event_ids(tmp_path / "lake") == Counter({"a": 1, "b": 1})


@pytest.mark.slow
def test_redeliveries_are_caught_after_their_partition_left_memory(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dedup index keeps only recently used days in memory; an evicted day is read again
    when a later batch touches it, so nothing is doubled."""
    root, report = trail
    monkeypatch.setattr(DedupIndex, "KEEP_RECENT", 0)  # evict after every commit
    monkeypatch.setattr(ingest_mod, "CONTEXT_OBJECTS", 0)  # every straddling copy to the parent
    summary = Lake(tmp_path / "lake").ingest(str(root), workers=1, batch_bytes=24 * 1024)
    assert summary.commits > 20
    assert summary.duplicates_dropped == report.redelivered_events > 0
    assert lake_event_ids(tmp_path / "lake") == unique_event_ids(trail_events(root))


@pytest.mark.slow
def test_copies_straddling_a_batch_cut_are_dropped_in_the_worker(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-delivered copies sit in the next file of the same stream; the batch that holds it
    drops them against its context objects, so the committing process finds nothing left to
    rewrite, and the lake is the same as without context."""
    root, report = trail
    rewrites: list[str] = []
    compare_rows = DedupIndex._compare_rows

    def counting(self, staged, *args):  # type: ignore[no-untyped-def]
        rewrites.append(staged)
        return compare_rows(self, staged, *args)

    monkeypatch.setattr(DedupIndex, "_compare_rows", counting)
    with_context = Lake(tmp_path / "with").ingest(str(root), workers=1, batch_bytes=24 * 1024)
    assert with_context.commits > 20 and rewrites == []
    assert with_context.duplicates_dropped == report.redelivered_events > 0
    monkeypatch.setattr(ingest_mod, "CONTEXT_OBJECTS", 0)
    without = Lake(tmp_path / "without").ingest(str(root), workers=1, batch_bytes=24 * 1024)
    assert rewrites and without.duplicates_dropped == with_context.duplicates_dropped
    assert _rows_by_id(tmp_path / "with") == _rows_by_id(tmp_path / "without")


def _rows_by_id(lake: Path) -> list[dict]:
    return (
        duckdb.sql(
            f"SELECT * EXCLUDE (sourcekey) FROM read_parquet('{lake}/events/**/*.parquet') "
            "ORDER BY eventid, eventtime, eventname"
        )
        .to_arrow_table()
        .to_pylist()
    )


def test_a_run_of_one_batch_decodes_in_the_committing_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes cost more to start than one batch costs to decode; a run with more
    batches still starts them."""
    src = tmp_path / "src"
    base = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    _write(src / base / "a.json.gz", [_event("a", "2024-07-01T10:00:00Z")])

    class NoPool:
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError("a pool was started")

    monkeypatch.setattr(ingest_mod, "ProcessPoolExecutor", NoPool)
    lake = Lake(tmp_path / "lake")
    assert lake.ingest(str(src), workers=2).events_added == 1
    _write(src / base / "b.json.gz", [_event("b", "2024-07-01T11:00:00Z")])
    _write(src / base / "c.json.gz", [_event("c", "2024-07-01T12:00:00Z")])
    with pytest.raises(AssertionError, match="a pool was started"):
        lake.ingest(str(src), workers=2, batch_bytes=1)
    assert lake.ingest(str(src), workers=1, batch_bytes=1).events_added == 2


def test_batches_carry_the_preceding_objects_of_the_streams_they_continue(
    tmp_path: Path,
) -> None:
    trail, flat = tmp_path / "trail", tmp_path / "flat"
    for region in ("eu-west-1", "us-east-1"):
        for i in range(3):
            key = f"AWSLogs/111122223333/CloudTrail/{region}/2024/07/01/f{i}.json.gz"
            _write(trail / key, [_event(key, "2024-07-01T10:00:00Z")])
    for name in ("a", "b", "c"):
        _write(flat / f"{name}.json.gz", [_event(name, "2024-07-01T10:00:00Z")])

    def plan(root: Path) -> list[tuple[list[str], list[str]]]:
        objects = list(LocalSource(str(root)).iter_objects())
        two = 2 * max(o.size for o in objects)
        return [
            ([_short(o.key) for o in b.objects], [_short(o.key) for o in b.context])
            for b in ingest_mod.plan_batches(objects, batch_bytes=two)
        ]

    assert plan(trail) == [
        (["eu-west-1/f0", "eu-west-1/f1"], []),
        (["eu-west-1/f2", "us-east-1/f0"], ["eu-west-1/f0", "eu-west-1/f1"]),
        (["us-east-1/f1", "us-east-1/f2"], ["us-east-1/f0"]),
    ]
    assert plan(flat) == [(["a", "b"], []), (["c"], [])]  # undated keys: in no stream


def test_a_run_is_cut_into_equal_batches_one_round_per_worker(tmp_path: Path) -> None:
    # Workers take batches in turns: a small last batch would run alone at the end.
    from dataclasses import replace

    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01/f{}.json.gz"
    _write(tmp_path / key.format(0), [_event("e", "2024-07-01T10:00:00Z")])
    template = next(iter(LocalSource(str(tmp_path)).iter_objects()))
    objects = [replace(template, key=key.format(i), size=100) for i in range(8)]

    def sizes(lanes: int) -> list[int]:
        batches = ingest_mod.plan_batches(objects, batch_bytes=300, lanes=lanes)
        return [sum(o.size for o in b.objects) for b in batches]

    assert sizes(1) == [300, 300, 200]  # greedy: full batches, then the rest
    assert sizes(2) == [200, 200, 200, 200]  # 3 rounded up to 4: two rounds of two
    assert sizes(3) == [300, 300, 200]  # already one round of three
    assert ingest_mod.even_batch_bytes(800, 300, 2) == 200
    assert ingest_mod.even_batch_bytes(250, 300, 2) == 300  # one batch stays one batch
    assert ingest_mod.even_batch_bytes(800, 300, 1) == 300  # one worker: greedy


def _short(key: str) -> str:
    parts = key.removesuffix(".json.gz").split("/")
    return "/".join(parts[3:4] + parts[-1:]) if len(parts) > 2 else parts[-1]


def test_redelivered_event_dropped_but_distinct_events_sharing_an_id_kept(tmp_path: Path) -> None:
    src = tmp_path / "src"
    base = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    same = _event("dup", "2024-07-01T10:00:00Z")
    other = dict(_event("dup", "2024-07-01T10:00:00Z"), eventName="DeleteBucket")
    _write(src / base / "one.json.gz", [same, _event("x", "2024-07-01T11:00:00Z")])
    _write(src / base / "two.json.gz", [same, other])  # re-delivery + a different event
    lake = Lake(tmp_path / "lake")
    first = lake.ingest(str(src), workers=1)
    assert first.duplicates_dropped == 1
    _write(src / base / "three.json.gz", [same])  # re-delivered again, in a later run
    second = lake.ingest(str(src), workers=1)
    assert second.duplicates_dropped == 1 and second.events_added == 0
    assert lake_event_ids(tmp_path / "lake") == Counter({"dup": 2, "x": 1})
    names = duckdb.sql(
        f"SELECT eventname FROM read_parquet('{tmp_path}/lake/events/**/*.parquet') "
        "WHERE eventid = 'dup' ORDER BY 1"
    ).fetchall()
    assert names == [("DeleteBucket",), ("GetObject",)]


_KILL_SCRIPT = """
import sys
from trailscope import Lake
if __name__ == "__main__":
    Lake(sys.argv[1]).ingest(sys.argv[2], workers=2, batch_bytes=120_000, compact=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_commits", [1, 4, 9])
def test_kill_9_mid_ingest_then_rerun_is_exact(
    trail, tmp_path: Path, kill_after_commits: int
) -> None:
    root, report = trail
    lake_dir = tmp_path / "lake"
    script = tmp_path / "run_ingest.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(lake_dir), str(root)], start_new_session=True
    )
    log = lake_dir / "_trailscope" / "log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(list(log.glob("*.json"))) >= kill_after_commits:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "ingest finished before it could be killed: make the trail bigger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (lake_dir / LOCK_FILE).exists()  # the dead writer's lock is still there
    partial = lake_event_ids(lake_dir)
    assert sum(partial.values()) < report.events
    assert all(n == 1 for n in partial.values() if n)  # never a doubled event
    summary = Lake(lake_dir).ingest(str(root), workers=2)
    assert summary.took_over_lock
    assert lake_event_ids(lake_dir) == unique_event_ids(trail_events(root))
    assert not list(lake_dir.rglob("*.tmp"))
    assert open_lake(lake_dir).info().events == report.events


def test_second_writer_is_refused_with_a_clear_message(trail, tmp_path: Path) -> None:
    root, _ = trail
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(root), workers=1)
    before = lake_event_ids(tmp_path / "lake")
    with WriterLock(lake.storage, "ingest"), pytest.raises(LakeLockedError) as info:
        Lake(tmp_path / "lake").ingest(str(root), workers=1)
    message = str(info.value)
    assert message.startswith(f"lake {tmp_path / 'lake'} is being written by another process")
    assert f"(pid {os.getpid()} on " in message and "ingest since" in message
    assert lake_event_ids(tmp_path / "lake") == before


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    src = tmp_path / "src"
    _write(src / "a.json.gz", [_event("a", "2024-07-01T10:00:00Z")])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "lake" / "_trailscope").mkdir(parents=True)
    lock = tmp_path / "lake" / LOCK_FILE
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    summary = lake.ingest(str(src), workers=1)
    assert summary.took_over_lock and summary.events_added == 1
    assert not lock.exists()


@pytest.mark.slow
def test_frequent_small_ingests_keep_partitions_to_a_few_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    lake = Lake(tmp_path / "lake")
    base = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    for run in range(12):
        events = [_event(f"r{run}-{i}", f"2024-07-01T{run:02d}:{i:02d}:00Z") for i in range(5)]
        _write(src / base / f"f{run:02d}.json.gz", events)
        lake.ingest(str(src), workers=1)
        assert lake.info().max_files_per_partition <= 4
    assert lake.info().events == 60
    assert lake.compact(full=True) == 1
    info = lake.info()
    assert info.files == 1 and info.events == 60
    assert sum(lake_event_ids(tmp_path / "lake").values()) == 60


@pytest.mark.slow
def test_days_are_compacted_during_the_run_once_later_deliveries_leave_them(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction of a settled day overlaps the workers' later batches instead of waiting for
    the end; the lake is the same, and still at most four files per partition."""
    from trailscope.lake import commit as commit_mod
    from trailscope.lake import compact as compact_mod

    root, _ = trail
    calls: list[tuple[str, object]] = []
    commit_batch, compact_each = commit_mod.commit_batch, compact_mod.compact_each

    def committing(manifest, state, index, output):  # type: ignore[no-untyped-def]
        calls.append(("commit", max(o.day for o in output.objects if o.day)))
        return commit_batch(manifest, state, index, output)

    def settling(manifest, state, partitions, **kw):  # type: ignore[no-untyped-def]
        calls.append(("settle", sorted(partitions)))
        return compact_each(manifest, state, partitions, **kw)

    monkeypatch.setattr(commit_mod, "commit_batch", committing)
    monkeypatch.setattr(compact_mod, "compact_each", settling)
    lake = Lake(tmp_path / "lake")
    summary = lake.ingest(str(root), workers=1, batch_bytes=24 * 1024)
    last_commit = max(i for i, (kind, _) in enumerate(calls) if kind == "commit")
    during = [(i, days) for i, (kind, days) in enumerate(calls) if kind == "settle"][:-1]
    assert during and all(i < last_commit for i, _ in during)
    for i, days in during:  # only days two or more before the deliveries committed so far
        reached = calls[i - 1][1]
        assert all(
            date.fromisoformat(d) <= date.fromisoformat(reached) - timedelta(2) for d in days
        )
    assert summary.compacted_partitions >= len({d for _, days in during for d in days})
    assert lake.info().max_files_per_partition <= 4
    assert lake_event_ids(tmp_path / "lake") == unique_event_ids(trail_events(root))


@pytest.mark.slow
def test_compaction_rewrites_every_value_as_it_was(trail, tmp_path: Path) -> None:
    """Compaction reads repeating strings as dictionaries and writes them on as they are:
    every column, nested and list values included, reads back the same."""
    import shutil

    root, _ = trail
    Lake(tmp_path / "before").ingest(str(root), workers=1, batch_bytes=24 * 1024, compact=False)
    shutil.copytree(tmp_path / "before", tmp_path / "after")
    after = Lake(tmp_path / "after")
    files_before = after.info().files
    assert after.compact(full=True) > 0 and after.info().files < files_before / 4
    assert _rows_by_id(tmp_path / "after") == _rows_by_id(tmp_path / "before")


@pytest.mark.slow
def test_compaction_merges_partitions_side_by_side_with_the_same_result(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``parallel``, two partitions' merges run at the same time (each waits at a barrier
    for the other, which a one-at-a-time compaction would never reach), and the lake ends the
    same as with one merge at a time."""
    import shutil
    import threading

    from trailscope.lake import compact as compact_mod

    root, _ = trail
    Lake(tmp_path / "before").ingest(str(root), workers=1, batch_bytes=24 * 1024, compact=False)
    for name in ("serial", "parallel"):
        shutil.copytree(tmp_path / "before", tmp_path / name)
    serial = Lake(tmp_path / "serial")
    changed = serial.compact(full=True)
    assert changed >= 2

    merge_parts = compact_mod.merge_parts
    both_merging = threading.Barrier(2, timeout=30)
    merged: list[str] = []

    def meeting(storage, item):  # type: ignore[no-untyped-def]
        if len(merged) < 2:
            merged.append(item.partition)
            both_merging.wait()
        return merge_parts(storage, item)

    monkeypatch.setattr(compact_mod, "merge_parts", meeting)
    parallel = Lake(tmp_path / "parallel")
    state = parallel.manifest.load()
    assert len(compact_mod.compact_each(parallel.manifest, state, full=True, parallel=2)) == changed
    assert len(set(merged)) == 2
    assert parallel.info().files == serial.info().files
    assert _rows_by_id(tmp_path / "parallel") == _rows_by_id(tmp_path / "serial")


def test_bad_input_is_quarantined_with_reasons_and_nothing_else_is_lost(tmp_path: Path) -> None:
    src = tmp_path / "src"
    base = src / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    good = [_event("g1", "2024-07-01T10:00:00Z"), _event("g2", "2024-07-01T10:01:00Z")]
    _write(base / "good.json.gz", good)
    full = gzip.compress(json.dumps({"Records": good}).encode())
    (base / "truncated.json.gz").write_bytes(full[: len(full) // 2])
    (base / "invalid.json").write_text('{"Records": [ {"eventID": "x",, } ]}')
    (base / "notct.json").write_text('{"hello": "world"}')
    no_time = {k: v for k, v in _event("nt", "2024-07-01T10:02:00Z").items() if k != "eventTime"}
    huge = _event("huge", "2024-07-01T10:03:00Z")
    huge["requestParameters"] = {"blob": "x" * (17 * 1024 * 1024)}
    mixed = [_event("m1", "2024-07-01T10:04:00Z"), no_time, huge, _event("m2", "2024-07-01T10:05Z")]
    _write(base / "mixed.json.gz", mixed)
    summary = Lake(tmp_path / "lake").ingest(str(src), workers=1)
    assert summary.quarantined_objects == 3
    assert summary.quarantined_events == 3
    info = open_lake(tmp_path / "lake").info()
    reasons = {(Path(q.uri).name, q.position): q.reason for q in info.quarantine}
    assert reasons[("truncated.json.gz", None)].startswith("damaged gzip: ")
    assert reasons[("invalid.json", None)].startswith("not JSON: ")
    assert reasons[("notct.json", None)] == "object is not a CloudTrail event (keys: hello)"
    assert reasons[("mixed.json.gz", 1)] == "event without eventTime"
    assert reasons[("mixed.json.gz", 2)] == "event larger than 16 MB"
    assert reasons[("mixed.json.gz", 3)] == "unparseable eventTime '2024-07-01T10:05Z'"
    assert lake_event_ids(tmp_path / "lake") == Counter({"g1": 1, "g2": 1, "m1": 1})


def test_missing_lake_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LakeError) as info:
        open_lake(tmp_path / "nope")
    assert str(info.value) == (
        f"no lake at {tmp_path / 'nope'}\nhint: create one with 'trailscope ingest SOURCE "
        "--lake PATH' or 'trailscope demo'"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(LakeError, match=r"^not a trailscope lake: "):
        open_lake(tmp_path / "empty")


def _event(event_id: str, when: str) -> dict:
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111122223333"},
        "eventTime": when,
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "requestParameters": {"bucketName": "b", "key": "k"},
        "eventID": event_id,
        "readOnly": True,
        "recipientAccountId": "111122223333",
    }


def _write(path: Path, events: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))


@pytest.mark.slow
def test_a_long_commit_log_loads_from_its_checkpoint(
    trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a checkpoint, loading reads the checkpoint and what follows, never older commits,
    and gives the same state as replaying every commit."""
    from trailscope.lake import manifest as manifest_mod
    from trailscope.lake import paths as paths_mod

    monkeypatch.setattr(manifest_mod, "CHECKPOINT_EVERY", 10)
    root, _ = trail
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(root), workers=1, batch_bytes=32 * 1024)
    state = lake.state()
    assert state.commits > 25
    log = tmp_path / "lake" / paths_mod.LOG_DIR
    pointer = json.loads((tmp_path / "lake" / paths_mod.LAST_CHECKPOINT).read_text())
    assert pointer["version"] == state.version // 10 * 10

    # Damage every commit before the checkpoint: loading must not need them.
    for path in sorted(log.glob("*.json")):
        if int(path.stem) < pointer["version"]:
            path.write_text("not json")
    loaded = lake.state()
    assert loaded.version == state.version and loaded.commits == state.commits
    assert loaded.parts == state.parts and loaded.objects == state.objects
    assert lake.info().events == sum(unique_event_ids(trail_events(root)).values())

    # Without its pointer the lake replays the log (here: damaged, so it says so).
    (tmp_path / "lake" / paths_mod.LAST_CHECKPOINT).unlink()
    with pytest.raises(LakeError) as err:
        lake.state()
    assert err.value.message.startswith(f"commit 1 of {tmp_path / 'lake'} is damaged (")
    assert err.value.hint == "restore the file from a backup"


def test_a_commit_with_a_wrong_type_is_reported_as_damaged_with_where(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(
        src / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01/a.json.gz",
        [_event("a", "2024-07-01T10:00:00Z")],
    )
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(src), workers=1)
    commit = next((tmp_path / "lake" / "_trailscope" / "log").glob("*.json"))
    doc = json.loads(commit.read_text())
    doc["objects"][0]["size"] = "big"
    commit.write_text(json.dumps(doc))
    with pytest.raises(LakeError) as err:
        Lake(tmp_path / "lake").state()
    assert err.value.message == (
        f"commit 1 of {tmp_path / 'lake'} is damaged "
        "(Expected `int`, got `str` - at `$.objects[0].size`)"
    )


def test_sorting_drops_copies_and_leaves_reference_rows_out() -> None:
    from datetime import UTC, datetime

    import pyarrow as pa

    from trailscope.lake.writer import sort_and_split

    def at(hour: int, day: int = 1) -> datetime:
        return datetime(2024, 7, day, hour, tzinfo=UTC)

    table = pa.table(
        {
            "eventid": ["r1", "r1", "r2", "a", "r1", "r2", "a", "r2", "b", None, None],
            "eventname": ["Get", "Get", "Put", "Get", "Get", "Other", "Get", "Put", "B", "N", "N"],
            "eventtime_ts": [at(h) for h in (5, 5, 3, 1, 5, 3, 1, 3)] + [at(2, 2), at(4), at(4)],
            "sourcekey": ["ctx1", "ctx2", "ctx2", "k1", "k1", "k1", "k2", "k2", "k2", "k1", "k2"],
        }
    )
    days, dropped = sort_and_split(table, reference_rows=3)
    # r1 (k1) and r2/Put (k2) repeat reference rows, a (k2) and the id-less N (k2) repeat
    # rows of the batch; r2/Other is a different event under a known id. The reference rows'
    # own copy of r1 (ctx2) is not counted: its batch counts it. Rows are grouped by name.
    assert dropped == 4
    assert [(day, rows.to_pydict()) for day, rows in days] == [
        (
            "2024-07-01",
            {
                "eventid": ["a", None, "r2"],
                "eventname": ["Get", "N", "Other"],
                "eventtime_ts": [at(1), at(4), at(3)],
                "sourcekey": ["k1", "k1", "k1"],
            },
        ),
        (
            "2024-07-02",
            {"eventid": ["b"], "eventname": ["B"], "eventtime_ts": [at(2, 2)], "sourcekey": ["k2"]},
        ),
    ]
    assert sort_and_split(table.slice(0, 3), reference_rows=3) == ([], 0)
    alone, none = sort_and_split(table.slice(3, 1))
    assert [rows.column("eventid").to_pylist() for _, rows in alone] == [["a"]] and none == 0


def test_copies_are_judged_by_content_when_their_stored_text_differs() -> None:
    """Rows stored alike are copies at once; rows whose JSON differs only in key order are
    still copies (the full comparison), and a changed value is not."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from trailscope.lake.writer import sort_and_split

    t = datetime(2024, 7, 1, 5, tzinfo=UTC)
    table = pa.table(
        {
            "eventid": ["same", "same", "order", "order", "value", "value", "mixed", "mixed"],
            "requestparameters": [
                '{"a":1,"b":[2]}',
                '{"a":1,"b":[2]}',
                '{"a":1,"b":2}',
                '{"b":2,"a":1}',
                '{"a":1}',
                '{"a":2}',
                '{"a":1}',
                '{"a":1}',
            ],
            "eventtime_ts": [t] * 8,
            "sourcekey": ["k1", "k2"] * 4,
        }
    )
    days, dropped = sort_and_split(table)
    kept = days[0][1]
    assert dropped == 3
    pairs = zip(kept["eventid"].to_pylist(), kept["requestparameters"].to_pylist(), strict=True)
    assert sorted(pairs) == [
        ("mixed", '{"a":1}'),
        ("order", '{"a":1,"b":2}'),
        ("same", '{"a":1,"b":[2]}'),
        ("value", '{"a":1}'),
        ("value", '{"a":2}'),
    ]
    assert kept["sourcekey"].to_pylist().count("k1") == 4
