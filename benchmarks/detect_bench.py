"""All bundled detections over a 1,000,000-event lake for 7 days, against a same-run baseline.

    python benchmarks/detect_bench.py [--events 1000000] [--sigma DIR] [--repeat 3]

The lake is the one ``query_bench.py`` builds from the cached synthetic trail in
``benchmarks/out/`` (built or completed here if missing). Prints the wall time of one
``run_detections`` over the last 7 days (median of ``--repeat`` runs after a warm-up), the
slowest rules, and the ratio to a baseline measured in the same run: one full scan of the same
7 days that reads the columns most rules filter on (``SELECT count(*) ... GROUP BY
eventsource, eventname``). ``--sigma`` adds a folder of Sigma rules to the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time

from ingest_bench import built_lake  # type: ignore[import-not-found]

GOAL_SECONDS = 10.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sigma", default=None, help="also run the Sigma rules in this folder")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from trailscope.detect import run_detections

    lake = built_lake(args.events, args.seed)
    info = lake.info()
    last = dt.date.fromisoformat(info.last_day)
    since = f"{last - dt.timedelta(days=6)}T00:00:00Z"
    until = f"{last}T23:59:59Z"
    in_range = lake.query(
        f"SELECT count(*) AS n FROM cloudtrail WHERE eventtime >= '{since}' "
        f"AND eventtime <= '{until}'"
    )
    print(
        f"lake: {info.events:,} events; 7 days {since[:10]}..{until[:10]}: "
        f"{in_range.column('n')[0].as_py():,} events"
    )

    engine = lake.engine()
    baseline_sql = lake.sql_for(
        "SELECT eventsource, eventname, count(*) FROM cloudtrail "
        f"WHERE eventtime >= '{since}' AND eventtime <= '{until}' GROUP BY 1, 2"
    ).sql

    def baseline() -> None:
        engine.query(baseline_sql)

    def detections():
        return run_detections(
            lake, since=since, until=until, rule_dirs=[args.sigma] if args.sigma else []
        )

    baseline()
    scan = statistics.median(_timed(baseline) for _ in range(args.repeat))
    detections()  # warm-up: file cache, sqlglot
    runs, cpu = [], []
    report = None
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = detections()
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    engine.close()
    assert report is not None
    took = statistics.median(runs)
    print(
        f"\n{report.rules_run} rules ran ({len(report.unsupported)} not runnable), "
        f"{len(report.findings)} findings"
    )
    print(f"baseline full scan of the 7 days: {scan * 1000:8.0f} ms")
    print(
        f"all detections:                   {took * 1000:8.0f} ms  "
        f"(= {took / scan:.1f} scans; runs: {', '.join(f'{r:.2f}' for r in runs)} s)"
    )
    print(
        f"CPU time of the run (all threads):  {statistics.median(cpu) * 1000:8.0f} ms  "
        f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    verdict = "meets" if took < GOAL_SECONDS else "MISSES"
    print(f"goal < {GOAL_SECONDS:.0f} s: {verdict}")
    print("\nslowest rules (last run):")
    for t in sorted(report.timings, key=lambda t: -t.seconds)[:8]:
        print(f"  {t.rule_id:45s} {t.seconds * 1000:7.0f} ms  {t.findings:5d} findings")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
