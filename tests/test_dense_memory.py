"""What keeps the committing process of a dense run small beside its workers: the plan lets
listed objects go once their batch is handed on, and Arrow's allocator returns freed pages at
once (benchmarks/dense_days_bench.py measures both at 10M events over 2 days)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import weakref
from dataclasses import replace
from pathlib import Path

from trailscope.lake import ingest as ingest_mod
from trailscope.lake import memory
from trailscope.sources.base import SourceObject
from trailscope.sources.local import LocalSource


class _Tracked(SourceObject):
    """A listed object that can be watched with a weak reference (SourceObject has slots)."""


def _listed(tmp_path: Path, count: int) -> list[SourceObject]:
    """``count`` objects of one stream, 100 bytes each, in key order."""
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01/f{:03d}.json.gz"
    first = tmp_path / key.format(0)
    first.parent.mkdir(parents=True)
    first.write_bytes(b"")
    template = next(iter(LocalSource(str(tmp_path)).iter_objects()))
    return [
        _Tracked(*(getattr(replace(template, key=key.format(i), size=100), f) for f in _FIELDS))
        for i in range(count)
    ]


_FIELDS = ("key", "uri", "size", "version", "info", "path")


def test_the_plan_lets_each_object_go_once_its_batch_is_handed_on(tmp_path: Path) -> None:
    listed = _listed(tmp_path, 40)
    watched = [weakref.ref(o) for o in listed]
    batches = ingest_mod.plan_batches(listed, batch_bytes=500)
    del listed  # as run_ingest does: the plan holds the only reference
    handed_on = [len(next(batches).objects) for _ in range(4)]  # each dropped at once
    gc.collect()
    assert handed_on == [5, 5, 5, 5]
    alive = [i for i, ref in enumerate(watched) if ref() is not None]
    # the batch last handed on (until the plan resumes) with its context, and the rest
    assert alive == [13, 14, *range(15, 40)]
    assert sum(len(b.objects) for b in batches) == 20


def test_the_committing_process_returns_memory_freed_in_arrow_threads() -> None:
    """Arrow buffers freed in another thread (as a part's reader and writer threads free
    theirs) are returned at once, not kept by the allocator for later."""
    script = textwrap.dedent(
        """
        import os
        from concurrent.futures import ThreadPoolExecutor

        from trailscope.lake.memory import PURGE_DELAY_VAR, return_freed_memory_promptly

        assert return_freed_memory_promptly()
        assert PURGE_DELAY_VAR not in os.environ  # what starts later keeps the default
        import pyarrow as pa
        import pyarrow.compute as pc

        def rss_mb():
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1]) // 1024

        def work():
            arrays = [pa.array(range(i * 10**6, (i + 1) * 10**6)) for i in range(30)]
            return sum(pc.multiply(a, 2).nbytes for a in arrays) // 2**20

        before = rss_mb()
        with ThreadPoolExecutor(1) as pool:
            allocated = pool.submit(work).result()
            print(allocated, rss_mb() - before)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != memory.PURGE_DELAY_VAR}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    allocated, kept = map(int, done.stdout.split())
    assert allocated >= 200
    assert kept < 60  # the allocator's default kept most of it (about 480 MB)


def test_too_late_once_pyarrow_is_loaded() -> None:
    import pyarrow  # noqa: F401  (as in a script that queried before it ingests)

    before = dict(os.environ)
    assert memory.return_freed_memory_promptly() is False
    assert dict(os.environ) == before


def test_a_part_loses_its_stored_copies_without_being_copied() -> None:
    """The rows kept are the filtered rows, in order, and share the part's buffers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from trailscope.lake.commit import without_rows

    n = 200_000
    table = pa.table({"i": pa.array(range(n)), "s": pa.array([f"v{i % 7}" for i in range(n)])})
    table = table.set_column(1, "s", table.column("s").dictionary_encode())
    for marked in ([], [0], [n - 1], [0, 1, 2, 5, 6, n - 2, n - 1], range(0, n, 1000), range(n)):
        flags = [False] * n
        for row in marked:
            flags[row] = True
        drop = pa.array(flags)
        before = pa.total_allocated_bytes()
        kept = without_rows(table, drop)
        assert pa.total_allocated_bytes() - before < 64 * 1024  # slices, not a copy
        assert kept.equals(table.filter(pc.invert(drop)))
    nulls = pa.array([None, True, False], pa.bool_())  # unknown: the row is kept
    assert without_rows(table.slice(0, 3), nulls).column("i").to_pylist() == [0, 2]


def test_the_workers_keep_the_allocators_default(tmp_path: Path) -> None:
    """Workers reuse each batch's pages for the next: returning them at once cost them CPU.
    The committing process's setting does not leak into them."""
    from trailscope.lake.storage import LocalStorage

    before = dict(os.environ)
    with memory.purging_promptly():
        pass
    runner = ingest_mod.PoolRunner(1)
    runner.start(LocalSource(str(tmp_path)), LocalStorage(str(tmp_path / "lake")))
    try:
        assert runner._pool is not None
        seen = runner._pool.submit(os.getenv, memory.PURGE_DELAY_VAR).result(timeout=120)
    finally:
        runner.close()
    assert seen == before.get(memory.PURGE_DELAY_VAR)
    assert dict(os.environ) == before
