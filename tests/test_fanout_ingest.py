"""Ingest fanned out over Spark tasks gives exactly the lake a single process gives.

A real local SparkSession (PySpark, ``local[2]``) runs the batches; the driver commits them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trailfiles import trail_events, unique_event_ids

from trailscope.facade import Lake
from trailscope.lake.spark_ingest import spark_runner
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow


def full_rows(lake: Lake) -> list[dict[str, Any]]:
    tables = [pq.read_table(path) for path in lake.files()]
    rows = pa.concat_tables(tables).to_pylist()
    return sorted(rows, key=lambda r: (r["eventid"], r["sourcekey"], json.dumps(r, default=str)))


def test_spark_fanned_ingest_equals_a_single_process_ingest(spark: Any, tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    synth_trail(trail, events=4000, seed=9, accounts=2, days=3, redeliver_fraction=0.02)
    fanned = Lake(tmp_path / "fanned")
    # Small batches and small waves: many Spark tasks, results committed as waves finish.
    summary = fanned.ingest(
        str(trail), runner=spark_runner(spark, tasks_in_flight=3), batch_bytes=24 * 1024
    )
    single = Lake(tmp_path / "single")
    baseline = single.ingest(str(trail), workers=1)

    assert summary.commits > 6
    assert (
        summary.events_added
        == baseline.events_added
        == sum(unique_event_ids(trail_events(trail)).values())
    )
    assert summary.duplicates_dropped == baseline.duplicates_dropped > 0
    assert full_rows(fanned) == full_rows(single)
    assert fanned.info().objects == single.info().objects


def test_an_unknown_ingest_engine_is_one_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trailscope.cli import EXIT_ERROR, app

    trail = tmp_path / "trail"
    synth_trail(trail, events=200, seed=1, accounts=1, days=1)
    result = CliRunner().invoke(
        app, ["ingest", str(trail), "--lake", str(tmp_path / "lake"), "--engine", "flink"]
    )
    assert result.exit_code == EXIT_ERROR
    assert "error: unknown engine 'flink'" in result.stderr
    assert not (tmp_path / "lake").exists()  # nothing was written
