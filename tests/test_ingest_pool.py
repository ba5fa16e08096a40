"""The worker pool of a large ingest: started while the listing goes on, always shut down."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from datetime import date
from pathlib import Path

import pytest

import trailscope.facade_ingest as ingest_run
from trailscope.errors import SourceError
from trailscope.facade import Lake
from trailscope.lake.ingest import PoolRunner
from trailscope.lake.manifest import ObjectRecord
from trailscope.lake.storage import Storage
from trailscope.sources.base import NO_FILTER, ListFilter, Source, SourceObject
from trailscope.sources.layout import KeyInfo, ObjectKind
from trailscope.sources.local import LocalSource
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow


class CountingSource(LocalSource):
    """Records what the listing has yielded so far; optionally fails part-way."""

    def __init__(self, root: Path, fail_after: int | None = None) -> None:
        super().__init__(root)
        self.listed: list[SourceObject] = []
        self.fail_after = fail_after

    def iter_objects(self, flt: ListFilter = NO_FILTER) -> Iterator[SourceObject]:
        for obj in super().iter_objects(flt):
            if self.fail_after is not None and len(self.listed) >= self.fail_after:
                raise SourceError("the listing broke off")
            self.listed.append(obj)
            yield obj

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return LocalSource, (self.uri,)  # workers read through a plain source


class RecordingPool(PoolRunner):
    def __init__(self, workers: int, source: CountingSource) -> None:
        super().__init__(workers)
        self.source = source
        self.listed_at_start: list[int] = []
        self.closed = 0

    def start(self, source: Source, storage: Storage) -> None:
        if self._pool is None:
            self.listed_at_start.append(len(self.source.listed))
        super().start(source, storage)

    def close(self, *, wait: bool = True) -> None:
        self.closed += 1
        super().close(wait=wait)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("trail")
    report = synth_trail(root, events=4000, seed=12, days=2, digests=False, insights=False)
    return root, report.events


def test_workers_start_while_the_listing_goes_on(
    trail: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, events = trail
    source = CountingSource(root)
    pools: list[RecordingPool] = []

    def pool(workers: int) -> RecordingPool:
        pools.append(RecordingPool(workers, source))
        return pools[-1]

    monkeypatch.setattr(ingest_run, "process_pool", pool)
    summary = Lake(tmp_path / "lake").ingest(source, workers=2, batch_bytes=40_000)
    assert summary.events_added == events and summary.commits > 2
    (runner,) = pools
    # Started once, when more than two batches' worth was listed, not after the listing.
    assert len(runner.listed_at_start) == 1
    at_start = runner.listed_at_start[0]
    assert 0 < at_start < len(source.listed)
    assert sum(o.size for o in source.listed[:at_start]) > 2 * 40_000
    assert runner._pool is None and runner.closed >= 1


def test_workers_started_early_are_shut_down_when_the_listing_fails(
    trail: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = trail
    source = CountingSource(root, fail_after=60)
    pools: list[RecordingPool] = []

    def pool(workers: int) -> RecordingPool:
        pools.append(RecordingPool(workers, source))
        return pools[-1]

    monkeypatch.setattr(ingest_run, "process_pool", pool)
    lake = Lake(tmp_path / "lake")
    with pytest.raises(SourceError, match="the listing broke off"):
        lake.ingest(source, workers=2, batch_bytes=20_000)
    (runner,) = pools
    assert runner.listed_at_start and runner.closed == 1 and runner._pool is None
    assert lake.info().events == 0  # nothing was committed


def test_what_travels_to_and_from_workers_pickles_whole() -> None:
    # Batches and their records pickle as their field values (fast): every field must survive,
    # including one added later to the class and not to its pickling.
    info = KeyInfo(ObjectKind.LOG, "111122223333", "eu-west-1", date(2024, 7, 1), "o-abcdefghij")
    obj = SourceObject("AWSLogs/x.json.gz", "s3://b/AWSLogs/x.json.gz", 42, "etag", info)
    assert pickle.loads(pickle.dumps(obj)) == obj
    values = {}
    for f in fields(ObjectRecord):  # a value unlike the default for every field
        values[f.name] = {
            "int": 7,
            "bool": True,
            "list[list[Any]]": [[1, "late"]],
            "dict[str, str] | None": {"signature": "ab"},
        }.get(str(f.type), f"{f.name}-value")
    record = ObjectRecord(**values)
    assert pickle.loads(pickle.dumps(record)) == record


SPY_SCRIPT = """
import sys

from trailscope.lake import ingest
from trailscope import facade, facade_ingest


class Spy(ingest.PoolRunner):
    loaded_at_start: list[bool] = []

    def start(self, source, storage):
        if self._pool is None:
            Spy.loaded_at_start.append("pyarrow" in sys.modules)
        super().start(source, storage)


if __name__ == "__main__":
    facade_ingest.process_pool = Spy
    summary = facade.Lake(sys.argv[2]).ingest(sys.argv[1], workers=2, batch_bytes=40_000)
    print(Spy.loaded_at_start, summary.events_added)
"""


def test_workers_start_before_the_committing_process_loads_pyarrow(
    trail: tuple[Path, int], tmp_path: Path
) -> None:
    """Importing trailscope, opening the lake and listing need no pyarrow: the workers import
    theirs while this process imports its own, instead of after it (about 0.2 s each)."""
    root, events = trail
    script = tmp_path / "spy.py"
    script.write_text(SPY_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(root), str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["[False]", str(events)]
