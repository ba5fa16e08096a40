"""Saved-query latency on the lake vs the same questions over the raw .json.gz, same run.

    python benchmarks/query_bench.py [--events 1000000] [--raw-repeat 1]

For every saved query, the median in-process latency of ``Lake.run`` (5 runs after a warm-up)
over three windows: its own default window (``since`` 24h or 7d), counted back from the end of
the trail's last day as if that were now, which is what a user running it gets; the whole
trail; and the last day. And the same whole-trail question answered by DuckDB reading the raw
trail files directly (a view with the same column names over read_json, as someone without a
lake would do). Also which files a one-day query opens (DuckDB's EXPLAIN ANALYZE) and their
bytes vs a full scan.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

import duckdb
from ingest_bench import built_lake, duckdb_record_type, ensure_trail, log_files  # type: ignore[import-not-found]


def raw_view(trail: Path) -> duckdb.DuckDBPyConnection:
    """The raw files with the lake's column names, as a user without trailscope might."""
    from trailscope.sql import COMPAT_COLUMNS

    record = duckdb_record_type()
    files = ", ".join(f"'{p}'" for p in log_files(trail))
    compat = ", ".join(f'{e} AS "{n}"' for n, e in COMPAT_COLUMNS.items())
    from trailscope.engines.duckdb import MACROS
    from trailscope.engines.memory import duckdb_config

    # The lake's engine settings (and, process-wide, its heap setting): the same engine tuning
    # on both sides, so the ratio is about the data's form.
    con = duckdb.connect(config=duckdb_config())
    con.execute("SET TimeZone = 'UTC'")
    for macro in MACROS:  # the same Trino-compatible functions the lake's engine has
        con.execute(f"CREATE OR REPLACE MACRO {macro}")
    con.execute(
        f"""CREATE VIEW raw_events AS SELECT r.*, CAST(r.eventTime AS TIMESTAMPTZ) AS eventtime_ts,
              strftime(CAST(r.eventTime AS TIMESTAMP), '%Y-%m-%d') AS event_date
            FROM (SELECT unnest(Records) AS r FROM read_json([{files}],
                  columns = {{'Records': '{record}'}}, format = 'newline_delimited',
                  records = true, maximum_object_size = 67108864))"""
    )
    con.execute(f"CREATE VIEW cloudtrail AS SELECT *, {compat} FROM raw_events")
    from trailscope.enrich.schemas import empty_tables

    for name, table in empty_tables().items():  # no enrichment here, as in the benchmark lake
        con.from_arrow(table).create(name)
    return con


def median_ms(fn, repeat: int = 5) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--raw-repeat", type=int, default=1, help="runs per raw-JSON query")
    ap.add_argument("--bytes-only", action="store_true", help="only the bytes-read comparison")
    args = ap.parse_args()
    trail = ensure_trail(args.events, args.seed)
    from trailscope.queries import load_library
    from trailscope.sql import translate
    from trailscope.timeparse import parse_time

    lake = built_lake(args.events, args.seed)
    info = lake.info()
    since, until = f"{info.first_day}T00:00:00Z", f"{info.last_day}T23:59:59Z"
    engine = lake.engine()
    raw = raw_view(trail)
    lib = {} if args.bytes_only else load_library()
    end = f"{info.last_day}T23:59:59Z"
    print(
        f"\n{'saved query':30s} {'default':>13s} {'whole ms':>9s} {'last day':>9s} "
        f"{'raw ms':>10s} {'speed-up':>9s}"
    )
    worst = worst_day = worst_default = 0.0
    ratios = []
    for name, q in lib.items():
        values = {"since": since, "until": until}
        for p in q.params:
            if p.required:
                values[p.name] = "alice"
        bound = q.bind(values)
        sql = translate(q.sql, params=bound).sql
        # Lake.run as a program calls it: binding, translation and the engine check included.
        lake_ms = median_ms(lambda n=name, v=values: lake.run(n, **v))
        worst = max(worst, lake_ms)
        day_values = {**values, "since": f"{info.last_day}T00:00:00Z"}
        day_ms = median_ms(lambda n=name, v=day_values: lake.run(n, **v))
        worst_day = max(worst_day, day_ms)
        window = next(p.default for p in q.params if p.name == "since")
        default_since = parse_time(window, now=parse_time(end))
        default_values = {**values, "since": default_since.strftime("%Y-%m-%dT%H:%M:%SZ")}
        default_ms = median_ms(lambda n=name, v=default_values: lake.run(n, **v))
        worst_default = max(worst_default, default_ms)
        t = time.perf_counter()
        for _ in range(args.raw_repeat):
            raw.sql(sql, params=bound).to_arrow_table()
        raw_ms = (time.perf_counter() - t) / args.raw_repeat * 1000
        ratios.append(raw_ms / lake_ms)
        print(
            f"{name:30s} {default_ms:7.1f} ({window:>3s}) {lake_ms:9.1f} {day_ms:9.1f} "
            f"{raw_ms:10.0f} {raw_ms / lake_ms:8.0f}x"
        )
    if ratios:
        print(
            f"\nslowest saved query on its default window: {worst_default:.0f} ms (goal < 150 ms); "
            f"whole lake {worst:.0f} ms, last day {worst_day:.0f} ms; "
            f"smallest speed-up vs raw JSON: {min(ratios):.0f}x (goal >= 30x)"
        )
    day = info.last_day
    full_sql = translate("SELECT eventsource, count(*) FROM cloudtrail GROUP BY 1").sql
    day_sql = translate(
        f"SELECT eventsource, count(*) FROM cloudtrail WHERE eventtime >= '{day}T00:00:00Z' "
        f"AND eventtime < '{day}T23:59:59Z' GROUP BY 1"
    ).sql
    files = {}
    for label, sql in (("full", full_sql), ("day", day_sql)):
        plan = engine.explain(sql)
        m = re.search(r"Total Files Read: (\d+)", plan)
        files[label] = int(m.group(1)) if m else -1
    sizes = {p.partition: 0 for p in lake.state().parts.values()}
    for p in lake.state().parts.values():
        sizes[p.partition] += p.bytes
    full, one = sum(sizes.values()), sizes.get(day, 0)
    print(f"files read: one day {files['day']}, full scan {files['full']} (of {len(lake.files())})")
    print(
        f"bytes in the files read: one day {one / 1e6:.1f} MB vs full scan {full / 1e6:.1f} MB "
        f"({one / full:.2f}; goal < 0.2)"
    )


if __name__ == "__main__":
    main()
