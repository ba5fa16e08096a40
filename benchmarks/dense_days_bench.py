"""Peak memory of an ingest of dense days: a large organisation's volume in few days.

    python benchmarks/dense_days_bench.py                       # 10M events over 2 days
    python benchmarks/dense_days_bench.py --events 2000000      # quicker

The trail is generated once (``synth_trail(events=..., days=2)``) and cached under
benchmarks/out/. The ingest runs in a child process (all cores, as ``trailscope ingest``
does); its process tree's resident memory is sampled every 20 ms from /proc. Prints the peak
of the whole tree (the number the project's goal is stated in: < 1 GB), the peak of each single
process (the committing process and the largest worker), CPU, and what the lake holds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_bench import OUT, TreeMemory, _cpu, _rss, _tree, ensure_trail, log_files  # noqa: E402


class ProcessPeaks(TreeMemory):
    """:class:`TreeMemory`, also keeping each process's own peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.each: dict[int, int] = {}

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _tree(self.pid)
            sizes = {p: _rss(p) for p in tree}
            self.peak = max(self.peak, sum(sizes.values()))
            for p, rss in sizes.items():
                self.each[p] = max(self.each.get(p, 0), rss)
            for p in tree[1:]:
                self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu(p))
            time.sleep(0.02)


def step_ingest(trail: str, lake: str, workers: str) -> None:
    import resource

    from trailscope import Lake

    summary = Lake(lake).ingest(trail, workers=int(workers))
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(
        summary.events_added,
        summary.duplicates_dropped,
        summary.compacted_partitions,
        f"{me.ru_utime + me.ru_stime:.1f}",
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ingest":
        step_ingest(*sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=1, help="ingest runs (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the lake (benchmarks/out/)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    trail = ensure_trail(args.events, args.seed, args.days)
    files = log_files(trail)
    gz = sum(p.stat().st_size for p in files)
    print(
        f"== {args.events:,} events over {args.days} days: {len(files):,} log files, "
        f"{gz / 1e6:,.0f} MB gzip; {args.workers} workers =="
    )
    lake = OUT / f"lake-dense-{args.events}"
    for _ in range(args.repeat):
        shutil.rmtree(lake, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "_ingest", str(trail), str(lake), str(args.workers)],
            stdout=subprocess.PIPE,
            text=True,
        )
        with ProcessPeaks(proc.pid) as mem:
            stdout, _ = proc.communicate()
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit("the ingest failed")
        added, dups, compacted, cpu_main = stdout.split()
        parent = mem.each.get(proc.pid, 0)
        worker = max((v for p, v in mem.each.items() if p != proc.pid), default=0)
        print(
            f"ingest: {wall:.1f} s, {int(added):,} events ({int(dups):,} copies dropped), "
            f"{compacted} partitions compacted"
        )
        print(
            f"  peak memory: process tree {mem.peak / 2**20:,.0f} MB (goal < 1024); "
            f"committing process {parent / 2**20:,.0f} MB; largest worker "
            f"{worker / 2**20:,.0f} MB"
        )
        print(f"  CPU: committing process {cpu_main} s, workers {mem.descendants_cpu:.1f} s")
    from trailscope import open_lake

    info = open_lake(lake).info()
    print(
        f"lake: {info.events:,} events, {info.bytes / 1e6:,.1f} MB in {info.files} files, "
        f"{info.partitions} partitions, at most {info.max_files_per_partition} per partition"
    )
    if not args.keep:
        shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    main()
