"""Independent readers for tests: what a trail folder or a lake holds, without trailscope's code.

Expectations must not be computed by the code under test, so these use only gzip, json and
pyarrow/duckdb directly.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb


def trail_event_files(root: Path) -> list[Path]:
    """Log and Insight files of a trail copy (never digests or other objects)."""
    files = []
    for path in sorted(root.rglob("*.json.gz")):
        parts = path.parts
        if "CloudTrail" in parts or "CloudTrail-Insight" in parts:
            files.append(path)
    return files


def read_records(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as fh:
        return json.load(fh)["Records"]


def trail_events(root: Path) -> list[dict]:
    return [ev for path in trail_event_files(root) for ev in read_records(path)]


def unique_event_ids(events: list[dict]) -> Counter:
    """eventID multiset after dropping exact re-deliveries (same id, same content)."""
    seen: set[str] = set()
    ids: Counter = Counter()
    for ev in events:
        canon = json.dumps(ev, sort_keys=True)
        if canon in seen:
            continue
        seen.add(canon)
        ids[ev["eventID"]] += 1
    return ids


def lake_event_ids(lake: Path) -> Counter:
    """eventID multiset of a lake, read with plain DuckDB over the published Parquet files."""
    files = sorted(str(p) for p in (lake / "events").rglob("*.parquet"))
    if not files:
        return Counter()
    rows = duckdb.sql(f"SELECT eventid FROM read_parquet({files!r})").fetchall()
    return Counter(r[0] for r in rows)


def copy_files(files: list[Path], src_root: Path, dest_root: Path) -> None:
    for path in files:
        target = dest_root / path.relative_to(src_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
