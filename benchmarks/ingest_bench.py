"""Ingest speed, memory and size against baselines measured in the same run.

    python benchmarks/ingest_bench.py                    # 1M events, then 3M two ways (memory)
    python benchmarks/ingest_bench.py --events 200000 --no-big

Prints, for the same synthetic trail (generated once and cached under benchmarks/out/):
  * baseline: stdlib gzip + orjson.loads of every file, one process (what "just parsing" costs)
  * DuckDB's own read_json -> COPY ... PARTITION_BY conversion of the same files
  * trailscope ingest end to end (decode, normalize, dedup, write, compact), all cores
  * peak memory of each (the whole process tree, sampled from /proc)
  * lake size vs the gzip input, and files per partition
and the ratios the project's goals are stated in. Each contender runs --repeat times, the
three alternating so that a slow spell of the machine hits all of them; medians are reported.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


class TreeMemory:
    """Peak resident memory of a process and all its descendants, sampled every 20 ms, and
    the CPU time each descendant had used when last seen (the ingest does not wait for its
    idle workers to exit, so its own ``RUSAGE_CHILDREN`` misses them)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _tree(self.pid)
            self.peak = max(self.peak, sum(_rss(p) for p in tree))
            for p in tree[1:]:
                self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu(p))
            time.sleep(0.02)

    @property
    def descendants_cpu(self) -> float:
        return sum(self.cpu.values())


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(args: list[str]) -> tuple[float, int, str, float]:
    """Run a child Python process; return (wall seconds, peak tree RSS bytes, stdout, CPU
    seconds of its descendants)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid) as mem:
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"benchmark step failed: {args}")
    return wall, mem.peak, stdout, mem.descendants_cpu


def ensure_trail(events: int, seed: int, days: int = 8) -> Path:
    dest = OUT / (f"trail-{events}-{seed}" if days == 8 else f"trail-{events}-{seed}-{days}d")
    marker = dest / "_synth" / "complete"
    if marker.exists():
        return dest
    from trailscope.synth import synth_trail

    print(f"generating a {events:,}-event trail in {dest} (cached for later runs) ...", flush=True)
    t = time.perf_counter()
    synth_trail(dest, events=events, seed=seed, days=days, accounts=3, overwrite=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("ok")
    print(f"  generated in {time.perf_counter() - t:.1f} s", flush=True)
    return dest


def built_lake(events: int, seed: int, name: str = "lake-query") -> Any:
    """A benchmark lake over the cached trail, under benchmarks/out/``name``. Ingest is
    incremental, so this also finishes a build that was interrupted."""
    from trailscope import Lake

    trail = ensure_trail(events, seed)
    lake = Lake(OUT / name)
    t = time.perf_counter()
    added = lake.ingest(str(trail)).events_added
    if added:
        print(f"lake built: {added:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    return lake


def log_files(trail: Path) -> list[Path]:
    return [p for p in sorted(trail.rglob("*.json.gz")) if "CloudTrail" in p.parts]


# --------------------------------------------------------------------------- child steps


def step_baseline(trail: str) -> None:
    gc.disable()
    n = 0
    for path in log_files(Path(trail)):
        with gzip.open(path, "rb") as fh:
            n += len(orjson.loads(fh.read())["Records"])
    print(n)


def duckdb_record_type() -> str:
    """The trail files' Records as a DuckDB type (what a DuckDB-only user would declare)."""
    from trailscope.decode.schema import EVENT_FIELDS, Field, Kind

    def ddb(f: Field) -> str:
        if f.kind is Kind.STRUCT:
            return "STRUCT(" + ", ".join(f'"{c.json_name}" {ddb(c)}' for c in f.children) + ")"
        if f.kind is Kind.LIST:
            inner = ", ".join(f'"{c.json_name}" {ddb(c)}' for c in f.children)
            return f"STRUCT({inner})[]"
        if f.kind is Kind.JSON or f.kind is Kind.MAP:
            return "JSON"
        return "VARCHAR"

    return "STRUCT(" + ", ".join(f'"{f.json_name}" {ddb(f)}' for f in EVENT_FIELDS) + ")[]"


def step_duckdb(trail: str, dest: str) -> None:
    import duckdb

    record = duckdb_record_type()
    files = [str(p) for p in log_files(Path(trail))]
    con = duckdb.connect()
    con.execute(
        f"""COPY (
              SELECT r.*, strftime(CAST(r.eventTime AS TIMESTAMP), '%Y-%m-%d') AS event_date
              FROM (SELECT unnest(Records) AS r FROM read_json(?,
                    columns = {{'Records': '{record}'}}, format = 'newline_delimited',
                    records = true, maximum_object_size = 67108864))
            ) TO '{dest}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date))""",
        [files],
    )
    print(con.execute(f"SELECT count(*) FROM read_parquet('{dest}/**/*.parquet')").fetchall()[0][0])


def step_trailscope(trail: str, lake: str, workers: str) -> None:
    import resource

    from trailscope import Lake

    summary = Lake(lake).ingest(trail, workers=int(workers))
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(
        summary.events_added,
        summary.compacted_partitions,
        summary.read,
        f"{me.ru_utime + me.ru_stime:.1f}",
    )


# --------------------------------------------------------------------------- driver


def measure(
    events: int, seed: int, workers: int, with_duckdb: bool, repeat: int = 1, days: int = 8
) -> dict[str, float]:
    trail = ensure_trail(events, seed, days)
    gz_bytes = sum(p.stat().st_size for p in log_files(trail))
    files = len(log_files(trail))
    me = str(Path(__file__).resolve())
    print(
        f"\n== {events:,} events over {days} days, {files:,} log files, "
        f"{gz_bytes / 1e6:,.0f} MB gzip =="
    )
    # Warm the page cache so every contender reads from memory.
    for p in log_files(trail):
        p.read_bytes()
    res: dict[str, float] = {"events": events, "files": files, "gzip_bytes": gz_bytes}
    lake = OUT / "lake"

    # DuckDB, the baseline and ingest alternate, so a slow spell of this (shared) machine hits
    # all of them; the medians are reported.
    duckdb_runs: list[float] = []
    base_runs: list[float] = []
    runs: list[tuple[float, int]] = []
    for _ in range(repeat):
        if with_duckdb:
            dest = OUT / "duckdb-copy"
            shutil.rmtree(dest, ignore_errors=True)
            wall, mem, outp, _ = run_measured([me, "_duckdb", str(trail), str(dest)])
            duckdb_runs.append(wall)
            res["duckdb_mem"] = max(mem, res.get("duckdb_mem", 0))
            print(
                f"duckdb    read_json -> COPY      : {wall:7.2f} s  {mem / 2**20:7.0f} MB  "
                f"({outp.strip()} events)"
            )
            shutil.rmtree(dest, ignore_errors=True)
        wall, mem, outp, _ = run_measured([me, "_baseline", str(trail)])
        base_runs.append(wall)
        res["baseline_mem"] = mem
        print(
            f"baseline  gzip+orjson, 1 process : {wall:7.2f} s  {mem / 2**20:7.0f} MB  "
            f"({outp.strip()} events)"
        )
        shutil.rmtree(lake, ignore_errors=True)
        wall, mem, outp, cpu_workers = run_measured(
            [me, "_trailscope", str(trail), str(lake), str(workers)]
        )
        runs.append((wall, mem))
        added, compacted, read, cpu_main = outp.split()
        print(
            f"trailscope ingest, {workers} workers    : {wall:7.2f} s  {mem / 2**20:7.0f} MB  "
            f"({int(added):,} events, {read} files, {compacted} partitions compacted)"
        )
        print(
            f"  CPU: workers {cpu_workers:.1f} s, committing process {cpu_main} s "
            f"({(cpu_workers + float(cpu_main)) / events * 1e6:.1f} us per event in all)"
        )
    res["baseline_s"] = statistics.median(base_runs)
    res["trailscope_s"] = statistics.median(w for w, _ in runs)
    res["trailscope_mem"] = max(m for _, m in runs)
    if duckdb_runs:
        res["duckdb_s"] = statistics.median(duckdb_runs)
    if repeat > 1:
        print(
            f"medians of {repeat} runs: baseline {res['baseline_s']:.2f} s, "
            f"trailscope {res['trailscope_s']:.2f} s"
            + (f", duckdb {res['duckdb_s']:.2f} s" if duckdb_runs else "")
        )

    from trailscope import open_lake

    info = open_lake(lake).info()
    res["lake_bytes"], res["max_files"] = info.bytes, info.max_files_per_partition
    print(
        f"lake: {info.bytes / 1e6:,.1f} MB in {info.files} files, {info.partitions} partitions, "
        f"at most {info.max_files_per_partition} per partition"
    )
    print(
        f"ratio ingest / baseline        : {res['trailscope_s'] / res['baseline_s']:.2f}  "
        "(goal <= 1.0, stretch <= 0.5)"
    )
    if with_duckdb:
        print(
            f"speed-up vs DuckDB COPY        : {res['duckdb_s'] / res['trailscope_s']:.2f}x "
            "(goal >= 2.5x)"
        )
    print(f"lake size / gzip input         : {info.bytes / gz_bytes:.2f}  (goal <= 0.6)")
    print(f"peak memory                    : {res['trailscope_mem'] / 2**20:.0f} MB (goal < 1024)")
    shutil.rmtree(lake, ignore_errors=True)
    return res


def scaling(events: int, seed: int, counts: list[int]) -> None:
    """Ingest throughput with 1, 2, 4... worker processes, against the same-run baseline."""
    trail = ensure_trail(events, seed)
    for p in log_files(trail):
        p.read_bytes()
    me = str(Path(__file__).resolve())
    base, _, _, _ = run_measured([me, "_baseline", str(trail)])
    print(f"\n== worker scaling, {events:,} events; baseline (gzip+orjson, 1 process) {base:.2f} s")
    lake = OUT / "lake-scaling"
    for n in counts:
        shutil.rmtree(lake, ignore_errors=True)
        wall, mem, _, _ = run_measured([me, "_trailscope", str(trail), str(lake), str(n)])
        print(
            f"{n} worker(s): {wall:7.2f} s  {events / wall:10,.0f} events/s  "
            f"{mem / 2**20:6.0f} MB  ratio to baseline {wall / base:.2f}"
        )
    shutil.rmtree(lake, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        step = {"_baseline": step_baseline, "_duckdb": step_duckdb, "_trailscope": step_trailscope}
        step[sys.argv[1]](*sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB COPY baseline")
    ap.add_argument("--no-big", action="store_true", help="skip the 3x-size memory check")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="baseline and ingest runs, alternated; medians are reported (default 3)",
    )
    ap.add_argument(
        "--scaling",
        metavar="N,N,...",
        help="only measure ingest with these worker counts (e.g. 1,2,4)",
    )
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.scaling:
        scaling(args.events, args.seed, [int(n) for n in args.scaling.split(",")])
        return
    small = measure(args.events, args.seed, args.workers, not args.no_duckdb, args.repeat)
    if not args.no_big:
        # A trail grows by days; a bigger organisation's trail has more events per day. The
        # two differ in memory: days three times as large are merged by compaction.
        longer = measure(args.events * 3, args.seed, args.workers, False, days=24)
        denser = measure(args.events * 3, args.seed, args.workers, False)
        base_mem = small["trailscope_mem"]
        print()
        for name, big in (("3x the days (24)", longer), ("3x events per day", denser)):
            print(
                f"{name:18}: memory {big['trailscope_mem'] / 2**20:.0f} MB vs "
                f"{base_mem / 2**20:.0f} MB (x{big['trailscope_mem'] / base_mem:.2f}; flat is "
                f"~1.0), time x{big['trailscope_s'] / small['trailscope_s']:.2f} (linear is 3.0)"
            )


if __name__ == "__main__":
    main()
