"""``lake check`` finds each kind of damage; ``lake repair`` makes the lake equal a fresh ingest.

One pristine lake is built per module and copied for each case; the reference for "equal" is a
second lake ingested from the same trail, compared row by row (EXCEPT ALL both ways).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from trailscope import Lake, open_lake
from trailscope.cli import app
from trailscope.errors import LakeError
from trailscope.exitcodes import ExitCode
from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(trail, pristine lake, fresh reference lake)."""
    root = tmp_path_factory.mktemp("check")
    trail = root / "trail"
    synth_trail(trail, events=3000, seed=3, days=3, accounts=1, redeliver_fraction=0.02)
    # small batches: several parts a day, and compaction merges some (provenance through it)
    Lake(root / "pristine").ingest(str(trail), workers=1, batch_bytes=60_000)
    Lake(root / "fresh").ingest(str(trail), workers=1)
    return trail, root / "pristine", root / "fresh"


@pytest.fixture
def lake(built: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(built[1], tmp_path / "lake")
    return tmp_path / "lake"


def _rows(lake: Path) -> str:
    files = [str(p) for p in open_lake(lake).files()]
    return f"read_parquet({files!r}, hive_partitioning = true)"


def _equal(a: Path, b: Path) -> bool:
    left, right = _rows(a), _rows(b)
    rows = duckdb.sql(
        f"SELECT count(*) FROM ((SELECT * FROM {left} EXCEPT ALL SELECT * FROM {right}) "
        f"UNION ALL (SELECT * FROM {right} EXCEPT ALL SELECT * FROM {left}))"
    ).fetchall()
    return rows == [(0,)]


def _check(lake: Path, *extra: str) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(app, ["lake", "check", "--lake", str(lake), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)["problems"]


def _part(lake: Path, n: int = 0) -> Path:
    return sorted(open_lake(lake).files(), key=lambda p: p.stat().st_size)[-1 - n]


def _flip(lake: Path) -> str:
    part = _part(lake)
    data = bytearray(part.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    part.write_bytes(bytes(data))
    return part.relative_to(lake).as_posix()


def _truncate(lake: Path) -> str:
    part = _part(lake)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    return part.relative_to(lake).as_posix()


def _replace(lake: Path) -> str:
    part, other = _part(lake), _part(lake, 1)
    part.write_bytes(other.read_bytes())
    return part.relative_to(lake).as_posix()


def _delete(lake: Path) -> str:
    part = _part(lake)
    part.unlink()
    return part.relative_to(lake).as_posix()


def _unreferenced(lake: Path) -> str:
    stray = _part(lake).with_name("part-stray.parquet")
    shutil.copy(_part(lake), stray)
    return stray.relative_to(lake).as_posix()


def _damage_commit(lake: Path) -> str:
    commit = sorted((lake / "_trailscope" / "log").glob("*.json"))[3]
    commit.write_text('{"version": 4, "operation": "ingest", "committed_at": 7')
    return commit.relative_to(lake).as_posix()


def _damage_checkpoint(lake: Path) -> str:
    lk = Lake(lake)
    lk.manifest.write_checkpoint(lk.state())
    checkpoint = next((lake / "_trailscope" / "checkpoints").glob("*.json"))
    checkpoint.write_text(checkpoint.read_text()[:100])
    return checkpoint.relative_to(lake).as_posix()


CASES: list[tuple[str, Callable[[Path], str], str, bool]] = [
    # (case, damage, kind reported, found by the quick check too)
    ("flipped bytes", _flip, "altered", False),
    ("truncated", _truncate, "truncated", True),
    ("replaced by another part", _replace, "replaced", True),
    ("deleted", _delete, "missing", True),
    ("unreferenced file", _unreferenced, "unreferenced", True),
    ("damaged commit", _damage_commit, "damaged commit", True),
    ("damaged checkpoint", _damage_checkpoint, "damaged checkpoint", True),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "damage", "kind", "quick"), CASES, ids=[c[0] for c in CASES])
def test_check_reports_the_damage_and_repair_makes_the_lake_equal_a_fresh_ingest(
    built: tuple[Path, Path, Path],
    lake: Path,
    case: str,
    damage: Callable[[Path], str],
    kind: str,
    quick: bool,
) -> None:
    trail, _, fresh = built
    assert _check(lake, "--deep") == (0, [])
    where = damage(lake)
    code, problems = _check(lake, "--deep")
    assert code == ExitCode.LAKE_PROBLEMS
    assert [(p["kind"], p["path"]) for p in problems] == [(kind, where)]
    if quick:
        assert [(p["kind"], p["path"]) for p in _check(lake)[1]] == [(kind, where)]
    result = CliRunner().invoke(app, ["lake", "repair", "--lake", str(lake), "--json"])
    assert result.exit_code == 0, result.output
    if kind == "damaged commit":  # the log was cut there: its files are read again
        assert json.loads(result.stdout)["cut_commits"]
        Lake(lake).ingest(str(trail), workers=1)
    assert _check(lake, "--deep") == (0, [])
    assert _equal(lake, fresh)
    assert open_lake(lake).info().events == open_lake(fresh).info().events


@pytest.mark.parametrize("damage", [_truncate, _delete, _replace])
def test_a_query_over_a_damaged_part_fails_naming_it(lake: Path, damage: Callable) -> None:
    where = damage(lake)
    with pytest.raises(LakeError) as info:
        open_lake(lake).query("SELECT count(*) FROM cloudtrail")
    assert info.value.message.startswith(f"part {where} of {lake} is damaged (")
    assert "lake repair" in (info.value.hint or "")


@pytest.mark.slow
def test_a_part_whose_sources_are_gone_is_dropped_and_the_loss_recorded(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    shutil.copytree(built[0], trail)
    lake = tmp_path / "lake"
    Lake(lake).ingest(str(trail), workers=1, batch_bytes=60_000)
    where = _delete(lake)
    before = open_lake(lake).state()
    rows = before.parts[where].rows
    shutil.rmtree(trail)
    report = open_lake(lake).repair()
    assert report.dropped == [where] and report.lost_events == rows
    assert _check(lake, "--deep") == (0, [])
    state = open_lake(lake).state()
    assert state.last_commit is not None and state.last_commit.info["lost_rows"] == rows
    assert open_lake(lake).info().events == sum(p.rows for p in before.parts.values()) - rows
    # the sources come back: the next ingest reads the lost part's files again, exactly
    shutil.copytree(built[0], trail)
    Lake(lake).ingest(str(trail), workers=1)
    assert _equal(lake, built[2])


@pytest.mark.slow
def test_an_s3_lake_checks_and_repairs_too(
    built: tuple[Path, Path, Path], s3_server: str, s3_bucket: tuple[str, str], s3_client: Any
) -> None:
    """Unreferenced and damaged objects on S3: found by one listing, repaired in place."""
    trail, _, fresh = built
    _, bucket = s3_bucket
    lake = Lake(f"s3://{bucket}/lake", endpoint_url=s3_server)
    lake.ingest(str(trail), workers=1)
    parts = sorted(lake.state().parts.values(), key=lambda p: p.bytes)
    big, small = parts[-1], parts[0]
    body = s3_client.get_object(Bucket=bucket, Key=f"lake/{big.path}")["Body"].read()
    stray = big.path.replace("part-", "part-stray-")
    s3_client.put_object(Bucket=bucket, Key=f"lake/{stray}", Body=body)
    s3_client.put_object(Bucket=bucket, Key=f"lake/{small.path}", Body=body[: len(body) // 3])
    problems = {(p.kind, p.path) for p in lake.check()}
    assert problems == {("unreferenced", stray), ("truncated", small.path)}
    report = lake.repair()
    assert report.removed_files == [stray] and report.rebuilt == [small.path]
    assert lake.check(deep=True) == []
    rows = lake.query("SELECT count(*) AS n FROM cloudtrail").to_pylist()
    assert rows == [{"n": open_lake(fresh).info().events}]
