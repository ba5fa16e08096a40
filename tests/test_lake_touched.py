"""A copy whose files were re-copied or touched (new mtimes, same bytes) is not decoded again."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

from trailfiles import lake_event_ids, trail_event_files, trail_events, unique_event_ids

from trailscope import Lake
from trailscope.synth import synth_trail


def test_touched_and_recopied_files_are_recorded_without_decoding(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    synth_trail(trail, events=1500, seed=4, days=2, accounts=1, redeliver_fraction=0.02)
    lake = Lake(tmp_path / "lake")
    first = lake.ingest(str(trail), workers=1)
    files = trail_event_files(trail)
    for path in files[::2]:
        os.utime(path, (1_000_000, 1_000_000))  # touched
    for path in files[1::2]:
        shutil.copy(path, path.with_suffix(".tmp"))  # re-copied: a new inode and mtime
        path.with_suffix(".tmp").replace(path)
    again = lake.ingest(str(trail), workers=1)
    assert again.read == 0 and again.events_added == 0 and again.duplicates_dropped == 0
    assert first.read == len(files) and again.already_ingested == again.listed == first.listed
    state = lake.state()
    for path in files:  # the log holds the new versions: a third run has nothing to do
        st = path.stat()
        assert any(
            o.uri == str(path) and o.version.startswith(str(st.st_mtime_ns))
            for o in state.objects.values()
        )
    assert lake.ingest(str(trail), workers=1).commits == 0
    assert lake_event_ids(tmp_path / "lake") == unique_event_ids(trail_events(trail))


def test_a_file_of_the_same_size_with_other_bytes_is_read_again(tmp_path: Path) -> None:
    src = tmp_path / "src" / "AWSLogs/111111111111/CloudTrail/us-east-1/2024/07/01"
    src.mkdir(parents=True)
    path = src / "a.json.gz"

    def write(name: str) -> None:
        event = {"eventID": "id-1", "eventTime": "2024-07-01T10:00:00Z", "eventName": name}
        path.write_bytes(gzip.compress(json.dumps({"Records": [event]}).encode(), mtime=0))

    write("AAAA")
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "src"), workers=1)
    size = path.stat().st_size
    write("BBBB")
    assert path.stat().st_size == size
    os.utime(path, (2_000_000, 2_000_000))
    again = lake.ingest(str(tmp_path / "src"), workers=1)
    assert again.read == 1 and again.events_added == 1
    names = lake.query("SELECT eventname FROM cloudtrail ORDER BY 1").column(0).to_pylist()
    assert names == ["AAAA", "BBBB"]
