"""After 'athena setup' (symlink layout), every commit keeps Athena's partition manifests equal
to the lake's live files: new days appear at once, compacted files disappear before deletion."""

from __future__ import annotations

from pathlib import Path

import orjson
from trailfiles import trail_event_files

from trailscope.athena.symlinks import manifest_path, read_manifest, write_manifests
from trailscope.facade import Lake
from trailscope.lake.paths import ATHENA_SETTINGS
from trailscope.synth import synth_trail

LOCATION = "s3://analytics-bucket/trailscope/"


def manifests_match_live_files(lake: Lake) -> None:
    by_day = lake.state().parts_by_partition()
    assert by_day
    for day, parts in by_day.items():
        listed = read_manifest((lake.root / manifest_path(day)).read_text())
        assert listed == sorted(LOCATION + p.path for p in parts), day
        for uri in listed:  # every listed file exists at its final name
            assert (lake.root / uri.removeprefix(LOCATION)).is_file()


def test_every_commit_rewrites_the_manifests_of_the_days_it_touched(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    synth_trail(trail, events=3000, seed=4, accounts=1, days=3)
    files = trail_event_files(trail)
    # First half of the files, then 'athena setup' turns the manifests on.
    half = tmp_path / "half"
    for path in files[: len(files) // 2]:
        dest = half / path.relative_to(trail)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(half), workers=1)
    assert not (lake.root / "athena").exists()  # nothing for Athena until it is set up
    # What 'trailscope athena setup' does: all manifests now, and the setting for later.
    write_manifests(lake.storage, lake.state(), LOCATION)
    lake.storage.write_atomic(ATHENA_SETTINGS, orjson.dumps({"location": LOCATION}))
    manifests_match_live_files(lake)

    # Many small commits and compactions: each keeps the manifests right.
    again = Lake(tmp_path / "lake")
    again.ingest(str(trail), workers=1, batch_bytes=16 * 1024)
    days_touched = {p.partition for p in again.state().parts.values()}
    written = {p.parent.name.split("=")[1] for p in (lake.root / "athena").rglob("symlink.txt")}
    assert written == days_touched
    manifests_match_live_files(again)
    assert again.compact(full=True) > 0
    manifests_match_live_files(again)
