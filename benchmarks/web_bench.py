"""Web UI speed on a 1,000,000-event lake: each dashboard's data on the server, and the time
until each page is interactive in headless chromium.

    python benchmarks/web_bench.py                 # 1M events, 5 runs per dashboard
    python benchmarks/web_bench.py --events 200000 --repeat 3

The trail and the lake are built once and cached under benchmarks/out/ (ingest is incremental,
so an interrupted build is finished by the next run). Prints, per dashboard:
  * server: the median time to compute everything the page shows (all panel queries, the same
    data as its JSON twin), and its slowest panel
  * baseline: one plain DuckDB scan of the columns most panels read (count, distinct event
    names, errors) over the same files, in the same run, and the ratio to it
  * browser: time from navigation start to the page being interactive (DOM ready and the page
    script run) against a real 'trailscope serve' process: the first load of each page (the
    server computes everything) and the median of the next loads (answers remembered)
Goals: server side < 500 ms per dashboard, interactive < 1.5 s.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "web")]

from ingest_bench import built_lake  # noqa: E402  (a sibling script, not a package)
from web_support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' settings)

SERVER_GOAL_MS, BROWSER_GOAL_MS = 500, 1500


def build_lake(events: int, seed: int) -> Path:
    return Path(built_lake(events, seed, f"lake-web-{events}-{seed}").root)


def median_ms(fn: Any, repeat: int) -> tuple[float, Any]:
    fn()  # warm-up: page cache, DuckDB's metadata cache
    times, last = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), last


def server_side(lake_path: Path, repeat: int, rng: str) -> dict[str, float]:
    import duckdb

    from trailscope import Lake
    from trailscope.web.dashboards import DASHBOARDS
    from trailscope.web.lakeview import LakeView
    from trailscope.web.pages import dashboard_data

    files = [str(p) for p in Lake(lake_path).files()]
    con = duckdb.connect()

    def baseline() -> Any:
        return con.execute(
            "SELECT count(*), count(DISTINCT eventname), count(errorcode) FROM read_parquet(?)",
            [files],
        ).fetchall()

    base_ms, _ = median_ms(baseline, repeat)
    view = LakeView(lake_path, cache_size=0)  # every run computes: no remembered answers
    view.span()
    print(f"\nserver side, range={rng}, median of {repeat} (goal < {SERVER_GOAL_MS} ms)")
    print(f"baseline: one DuckDB scan of 3 columns over all files: {base_ms:.0f} ms\n")
    print(f"{'dashboard':18s} {'ms':>7s} {'x base':>7s}  {'slowest panel':32s} {'ms':>6s}  goal")
    results = {}
    for name, dash in DASHBOARDS.items():
        ms, data = median_ms(lambda d=dash: dashboard_data(view, d, {"range": rng}), repeat)
        slow = max(data["panels"], key=lambda p: p.get("ms", 0))
        ok = "met" if ms < SERVER_GOAL_MS else "NOT MET"
        slow_ms = slow.get("ms", 0)
        print(f"{name:18s} {ms:7.0f} {ms / base_ms:7.1f}  {slow['id']:32s} {slow_ms:6.0f}  {ok}")
        results[name] = ms
    view.close()
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_side(lake_path: Path, repeat: int, rng: str) -> dict[str, float]:
    import httpx
    from playwright.sync_api import sync_playwright

    from trailscope.web.dashboards import DASHBOARDS

    port = free_port()
    cmd = [sys.executable, "-c", "from trailscope.cli import main; main()", "serve"]
    proc = subprocess.Popen([*cmd, "--lake", str(lake_path), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    pages = {f"/d/{n}?range={rng}": n for n in DASHBOARDS}
    pages |= {f"/events?range={rng}": "events", "/status": "status", "/workbench": "workbench"}
    results = {}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/status").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            print("\nbrowser: navigation start -> interactive")
            print(f"(goal < {BROWSER_GOAL_MS} ms; first load computes, later loads are cached)\n")
            print(f"{'page':28s} {'first':>7s} {'server':>7s} {'later':>7s} {'server':>7s}  goal")
            for url, name in pages.items():
                times, server = [], []
                for _ in range(repeat + 1):
                    page.goto(base + url, wait_until="domcontentloaded")
                    page.wait_for_function("document.body.dataset.ready === '1'")
                    nav = page.evaluate(
                        "(() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.domInteractive, n.responseStart - n.requestStart]; })()"
                    )
                    times.append(nav[0])
                    server.append(nav[1])
                later, later_server = statistics.median(times[1:]), statistics.median(server[1:])
                ok = "met" if max(times[0], later) < BROWSER_GOAL_MS else "NOT MET"
                print(
                    f"{url:28s} {times[0]:7.0f} {server[0]:7.0f} {later:7.0f} "
                    f"{later_server:7.0f}  {ok}"
                )
                results[name] = times[0]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--range", default="7d", help="the dashboards' time range (default 7d)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    lake = build_lake(args.events, args.seed)
    server = server_side(lake, args.repeat, args.range)
    browser = browser_side(lake, args.repeat, args.range)
    print(
        f"\nslowest dashboard data: {max(server.values()):.0f} ms; "
        f"slowest page interactive: {max(browser.values()):.0f} ms"
    )


if __name__ == "__main__":
    main()
