"""Spark local[2] vs DuckDB on the same lake, and the Athena estimate vs bytes actually read.

    python benchmarks/spark_bench.py [--events 1000000] [--repeat 3] [--skip-spark]

For every saved query over the whole lake: the median latency on DuckDB (the lake's engine,
in-process) and on Spark (a local[2] session started once, excluded from the timings), and
their ratio; the rows must be equal. Then, for every saved query, the bytes ``--estimate``
says Athena would scan against the bytes DuckDB really reads from the same files (``rchar`` of
/proc/self/io: every byte read through read/pread, page cache or not), and their ratio.
The lake is the one query_bench.py builds (benchmarks/out/lake-query), reused when present.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest_bench import OUT, ensure_trail  # type: ignore[import-not-found]


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: caches, JIT, first-use imports
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no /proc/self/io")


def saved_values(q: Any, since: str, until: str) -> dict[str, str]:
    values = {"since": since, "until": until}
    for p in q.params:
        if p.required:
            values[p.name] = "alice"
    return values


def normalized(table: Any) -> list[str]:
    from datetime import UTC, datetime

    def norm(v: Any) -> Any:
        if isinstance(v, datetime):
            return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return sorted(repr([norm(v) for v in row.values()]) for row in table.to_pylist())


def compare_engines(lake: Any, lib: dict[str, Any], since: str, until: str, repeat: int) -> None:
    from trailscope.engines import prepare
    from trailscope.engines.spark import SparkEngine, get_session

    t = time.perf_counter()
    spark = get_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    spark.sparkContext.setLogLevel("ERROR")
    spark_engine = SparkEngine.for_lake(lake, session=spark)
    print(f"Spark local[2] session started in {time.perf_counter() - t:.1f} s (not counted)")
    duck = lake.engine()
    print(f"\n{'saved query':28s} {'DuckDB s':>9s} {'Spark s':>9s} {'Spark/DuckDB':>13s} rows")
    ratios = []
    total_duck = total_spark = 0.0
    for name, q in lib.items():
        bound = q.bind(saved_values(q, since, until))
        types = {p.name: p.type for p in q.params}
        duck_sql = prepare("duckdb", q.sql, params=bound).sql
        spark_sql = prepare("spark", q.sql, params=bound, types=types).sql
        d = median_s(lambda s=duck_sql, b=bound: duck.query(s, params=b), repeat)
        s = median_s(lambda s=spark_sql, b=bound: spark_engine.query(s, params=b), repeat)
        same = normalized(duck.query(duck_sql, params=bound)) == normalized(
            spark_engine.query(spark_sql, params=bound)
        )
        ratios.append(s / d)
        total_duck += d
        total_spark += s
        print(f"{name:28s} {d:9.3f} {s:9.3f} {s / d:12.1f}x {'same' if same else 'DIFFERENT'}")
    print(
        f"\nall saved queries: DuckDB {total_duck:.2f} s, Spark {total_spark:.2f} s "
        f"(Spark/DuckDB {total_spark / total_duck:.1f}x; per query median "
        f"{statistics.median(ratios):.1f}x, range {min(ratios):.1f}x-{max(ratios):.1f}x)"
    )
    duck.close()
    spark_engine.close()
    spark.stop()


def compare_estimates(lake: Any, lib: dict[str, Any], since: str, until: str) -> None:
    from trailscope.athena.estimate import estimate_scan
    from trailscope.engines.duckdb import DuckDBEngine
    from trailscope.sql import translate

    files = lake.files()
    print(f"\n{'saved query':28s} {'estimate MB':>12s} {'DuckDB read MB':>15s} {'ratio':>7s}")
    ratios = []
    for name, q in lib.items():
        bound = q.bind(saved_values(q, since, until))
        estimate = estimate_scan(files, q.sql, params=bound)
        engine = DuckDBEngine(files, threads=2)
        engine.con.execute("SET enable_external_file_cache = false")
        engine.con.execute("SET parquet_metadata_cache = false")
        sql = translate(q.sql, params=bound).sql
        before = bytes_read()
        engine.query(sql, params=bound)
        actual = bytes_read() - before
        engine.close()
        ratios.append(estimate.bytes / actual)
        print(
            f"{name:28s} {estimate.bytes / 1e6:12.1f} {actual / 1e6:15.1f} "
            f"{estimate.bytes / actual:7.2f}"
        )
    print(
        f"\nestimate / DuckDB bytes read: median {statistics.median(ratios):.2f}, "
        f"range {min(ratios):.2f}-{max(ratios):.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-spark", action="store_true", help="only the estimate comparison")
    args = ap.parse_args()
    from trailscope import Lake
    from trailscope.queries import load_library

    lake = Lake(OUT / "lake-query")
    if not lake.exists() or lake.info().events < args.events:
        added = lake.ingest(str(ensure_trail(args.events, args.seed))).events_added
        print(f"lake built or completed: {added:,} events added", flush=True)
    info = lake.info()
    print(f"lake: {info.events:,} events, {info.files} files, {info.bytes / 1e6:.0f} MB")
    since, until = f"{info.first_day}T00:00:00Z", f"{info.last_day}T23:59:59Z"
    lib = load_library()
    if not args.skip_spark:
        compare_engines(lake, lib, since, until, args.repeat)
    compare_estimates(lake, lib, since, until)


if __name__ == "__main__":
    main()
