"""What ingest filters cost: the 1M-event ingest with no filters, with exclusions and a
redaction, and with a --where condition, run alternately (a slow spell of the shared machine
hits all three); medians and ranges are printed.

    python benchmarks/ingest_filters_bench.py               # 1M events, 3 rounds
    python benchmarks/ingest_filters_bench.py --events 200000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_bench import OUT, ensure_trail, log_files, run_measured  # noqa: E402

CONFIGS: dict[str, dict[str, object]] = {
    "none": {},
    "exclude+redact": {
        "exclude_sources": ["s3.amazonaws.com"],
        "exclude_events": ["Describe*", "GetObject"],
        "redact": ["useridentity.accesskeyid"],
    },
    "where": {
        "where": "useragent = 'console.amazonaws.com' OR eventname = 'ConsoleLogin' "
        "OR useridentity.type = 'Root'",
    },
}


def step(trail: str, lake: str, workers: str, config: str) -> None:
    import resource

    from trailscope import Lake
    from trailscope.lake.settings import IngestFilters

    summary = Lake(lake).ingest(
        trail, workers=int(workers), filters=IngestFilters(**json.loads(config))
    )
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(summary.events_added, summary.filtered_events, f"{me.ru_utime + me.ru_stime:.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ingest":
        step(*sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trail = ensure_trail(args.events, args.seed)
    for p in log_files(trail):
        p.read_bytes()  # warm the page cache for every contender alike
    lake = OUT / "lake-filters"
    results: dict[str, list[tuple[float, int, float]]] = {name: [] for name in CONFIGS}
    for _ in range(args.rounds):
        for name, config in CONFIGS.items():
            shutil.rmtree(lake, ignore_errors=True)
            wall, mem, out, cpu_workers = run_measured(
                [__file__, "_ingest", str(trail), str(lake), str(args.workers), json.dumps(config)]
            )
            added, filtered, cpu_main = out.split()
            cpu = cpu_workers + float(cpu_main)
            results[name].append((wall, mem, cpu))
            print(
                f"{name:15} {wall:7.2f} s  CPU {cpu:6.2f} s  {mem / 2**20:5.0f} MB  "
                f"{int(added):,} kept, {int(filtered):,} left out",
                flush=True,
            )
    shutil.rmtree(lake, ignore_errors=True)
    print(f"\nmedians (range) of {args.rounds} alternating rounds:")
    for name, runs in results.items():
        walls, mems, cpus = ([r[i] for r in runs] for i in range(3))
        print(
            f"{name:15} wall {statistics.median(walls):6.2f} s ({min(walls):.2f}-{max(walls):.2f})"
            f"  CPU {statistics.median(cpus):6.2f} s ({min(cpus):.2f}-{max(cpus):.2f})"
            f"  peak {statistics.median(mems) / 2**20:4.0f} MB "
            f"({min(mems) / 2**20:.0f}-{max(mems) / 2**20:.0f})"
        )


if __name__ == "__main__":
    main()
