"""Partition keys by measurement: event date alone vs account/region/date.

    python benchmarks/partitioning_bench.py [--events 1000000]

Builds trailscope's lake (partitioned by event_date, files sorted by time) from the cached
synthetic trail of ingest_bench.py, rewrites the same rows partitioned by
(recipientaccountid, awsregion, event_date) with DuckDB, and times typical questions on both:
a full-lake aggregation, one day, one account for one day, and a 2-hour window. Prints file counts
and sizes too: account/region/date multiplies files by accounts x regions, which for an
organization trail (hundreds of accounts, 17+ regions) means thousands of tiny files per day.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import duckdb
from ingest_bench import OUT, ensure_trail  # type: ignore[import-not-found]

QUERIES = {
    "top event names, whole lake": "SELECT eventname, count(*) n FROM t GROUP BY 1 ORDER BY n DESC "
    "LIMIT 10",
    "failed console logins, whole lake": "SELECT useridentity.username, count(*) FROM t "
    "WHERE eventname = 'ConsoleLogin' AND errormessage IS NOT NULL GROUP BY 1",
    "one day, by source": "SELECT eventsource, count(*) FROM t WHERE event_date = '{day}' "
    "GROUP BY 1",
    "one account, one day": "SELECT eventname, count(*) FROM t WHERE event_date = '{day}' "
    "AND recipientaccountid = '{account}' GROUP BY 1",
    "2-hour window (eventtime strings)": "SELECT count(*) FROM t WHERE eventtime >= "
    "'{day}T10:00:00Z' AND eventtime < '{day}T12:00:00Z' AND event_date = '{day}'",
}


def view(con: duckdb.DuckDBPyConnection, root: Path, keys: list[str]) -> None:
    types = ", ".join(f"'{k}': VARCHAR" for k in keys)
    con.execute(
        f"CREATE OR REPLACE VIEW t AS SELECT * FROM read_parquet('{root}/**/*.parquet', "
        f"hive_partitioning = true, hive_types = {{{types}}})"
    )


def timed(con: duckdb.DuckDBPyConnection, sql: str, repeat: int = 7) -> float:
    con.execute(sql).fetchall()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    trail = ensure_trail(args.events, args.seed)
    from trailscope import Lake

    lake = OUT / "lake-partitioning"
    if not (lake / "_trailscope").exists():
        Lake(lake).ingest(str(trail))
    by_date = lake / "events"
    by_arp = OUT / "by-account-region-date"
    shutil.rmtree(by_arp, ignore_errors=True)
    con = duckdb.connect()
    view(con, by_date, ["event_date"])
    day, account = con.execute(
        "SELECT event_date, recipientaccountid FROM t GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0]
    con.execute(
        f"COPY (SELECT * FROM t ORDER BY eventtime_ts) TO '{by_arp}' (FORMAT parquet, "
        "COMPRESSION zstd, PARTITION_BY (recipientaccountid, awsregion, event_date))"
    )
    layouts = {
        "event_date": (by_date, ["event_date"]),
        "account/region/date": (by_arp, ["recipientaccountid", "awsregion", "event_date"]),
    }
    print(f"{'layout':22s} {'files':>7s} {'MB':>8s}")
    for name, (root, _) in layouts.items():
        files = list(root.rglob("*.parquet"))
        print(f"{name:22s} {len(files):7d} {sum(f.stat().st_size for f in files) / 1e6:8.1f}")
    print(f"\n{'query (median ms)':38s} {'event_date':>11s} {'acct/region/date':>17s}")
    for title, template in QUERIES.items():
        sql = template.format(day=day, account=account)
        cells = []
        for root, keys in layouts.values():
            view(con, root, keys)
            cells.append(timed(con, sql) * 1000)
        print(f"{title:38s} {cells[0]:11.1f} {cells[1]:17.1f}")
    shutil.rmtree(by_arp, ignore_errors=True)


if __name__ == "__main__":
    main()
