"""Retention: ``lake purge --before`` and the retention setting remove days for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from trailfiles import lake_event_ids, trail_events, unique_event_ids
from typer.testing import CliRunner

from trailscope import Lake, open_lake
from trailscope.cli import app
from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("purge-trail")
    synth_trail(root, events=2000, seed=8, days=4, accounts=1)
    return root


def _ids_from(trail: Path, first_day: str) -> Counter:
    """The trail's events of ``first_day`` and later, from the files themselves."""
    events = [e for e in trail_events(trail) if e["eventTime"][:10] >= first_day]
    return unique_event_ids(events)


def test_purge_removes_the_days_before_and_reingest_never_brings_them_back(
    trail: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    Lake(lake).ingest(str(trail), workers=1)
    days = sorted(open_lake(lake).state().parts_by_partition())
    cut = days[2]
    before = lake_event_ids(lake)
    result = CliRunner().invoke(
        app, ["lake", "purge", "--before", cut, "--lake", str(lake), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["days"] == days[:2]
    gone = sum(before.values()) - sum(_ids_from(trail, cut).values())
    assert report["events"] == gone > 0
    assert lake_event_ids(lake) == _ids_from(trail, cut)
    assert sorted(open_lake(lake).state().parts_by_partition()) == days[2:]
    # the same source again, and a copy of it with new mtimes: nothing before the cut returns
    again = Lake(lake).ingest(str(trail), workers=1)
    assert again.events_added == 0
    for path in trail.rglob("*.json.gz"):
        os.utime(path, (1, 1))
    changed = Lake(lake).ingest(str(trail), workers=1)
    assert changed.events_added == 0
    assert changed.skipped.get("log", 0) > 0  # files delivered before the cut: not even read
    assert lake_event_ids(lake) == _ids_from(trail, cut)
    assert open_lake(lake).info().first_day == cut


def test_retention_purges_at_every_ingest(trail: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(trail), workers=1)
    days = sorted(lake.state().parts_by_partition())
    last = days[-1]
    keep = (datetime.now(UTC).date() - datetime.fromisoformat(last).date()).days
    result = CliRunner().invoke(app, ["lake", "retention", str(keep), "--lake", lake.location])
    assert result.exit_code == 0 and f"keeps the last {keep} days" in result.output
    summary = lake.ingest(str(trail), workers=1)
    assert summary.purged_days == len(days) - 1
    assert sorted(lake.state().parts_by_partition()) == [last]
    assert lake_event_ids(Path(lake.location)) == _ids_from(trail, last)
    CliRunner().invoke(app, ["lake", "retention", "off", "--lake", lake.location])
    assert lake.retention() is None


def test_a_purge_killed_after_its_commit_is_finished_by_the_next_reader(
    trail: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    Lake(lake).ingest(str(trail), workers=1)
    cut = sorted(open_lake(lake).state().parts_by_partition())[1]
    child = textwrap.dedent(
        """
        import os, signal, sys
        from trailscope import Lake
        from trailscope.lake import transaction
        transaction.Transaction._publish = lambda self: os.kill(os.getpid(), signal.SIGKILL)
        Lake(sys.argv[1]).purge(sys.argv[2])
        """
    )
    proc = subprocess.run([sys.executable, "-c", child, str(lake), cut], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with open_lake(lake) as reader:
        n = reader.query("SELECT count(*) AS n FROM cloudtrail").column(0)[0].as_py()
    assert n == sum(_ids_from(trail, cut).values())
    assert lake_event_ids(lake) == _ids_from(trail, cut)  # the old days' files are gone
