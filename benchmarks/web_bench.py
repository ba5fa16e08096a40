"""Web UI speed and weight on a 1,000,000-event lake: every dashboard and some Explore views,
computed from scratch, and the time until each page is interactive in headless chromium.

    python benchmarks/web_bench.py                 # 1M events, 5 runs each
    python benchmarks/web_bench.py --events 200000 --repeat 3

The trail and the lake are built once and cached under benchmarks/out/ (ingest is incremental,
so an interrupted build is finished by the next run). The window is the lake's last 7 days (what
"Show the same 7d ending at the lake's last event" gives on a lake that is not live). Prints:

  * server: the median time to compute a page from scratch (every query, the chart geometry and
    the HTML), with no remembered answer, and its slowest panel; the same for Explore views;
  * baseline: one plain DuckDB scan of three columns over the same files, in the same run;
  * browser: navigation start to interactive (DOM ready and the page script run) against a real
    'trailscope serve', each load with a window a few seconds different, so nothing is
    remembered (uncached); and each page's weight: the HTML as sent (gzip) and unpacked, and the
    page's CSS and script (sent once, then cached by the browser).

Goals: every dashboard interactive < 1 s uncached; an Explore view < 0.5 s on the server.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "web")]

from ingest_bench import built_lake  # noqa: E402  (a sibling script, not a package)
from web_support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' settings)

DASHBOARD_GOAL_MS, EXPLORE_GOAL_MS = 1000, 500
EXPLORE_VIEWS = {
    "ips by identity type": {"dim": "sourceipaddress", "split": "useridentity.type"},
    "console operations pie": {"dim": "eventname", "chart": "pie", "is.useragent": "x"},
    "hour x weekday heat map": {"dim": "hour", "split": "weekday", "chart": "heatmap"},
    "EC2 changes by day": {
        "dim": "time:day",
        "split": "eventname",
        "chart": "line",
        "like.eventname": "%Instances%",
    },
    "bucket names (JSON path)": {"dim": "requestparameters.bucketName", "top": "20"},
    "principal x event name": {"dim": "principal", "split": "eventname", "chart": "heatmap"},
}


def build_lake(events: int, seed: int) -> Path:
    return Path(built_lake(events, seed, f"lake-web-{events}-{seed}").root)


def timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    fn()  # warm-up: page cache, DuckDB's metadata cache
    times, last = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t) * 1000)
    return times, last


def spread(times: list[float]) -> str:
    return f"{statistics.median(times):7.0f} ({min(times):.0f}-{max(times):.0f})"


def window(lake_path: Path, shift_s: int = 0) -> dict[str, str]:
    """The lake's last 7 days (moved back by ``shift_s`` seconds: a new window each load)."""
    from trailscope.web.filters import iso
    from trailscope.web.lakeview import LakeView

    view = LakeView(lake_path)
    latest = view.span().latest
    view.close()
    assert latest is not None
    end = latest - timedelta(seconds=shift_s)
    return {"range": "custom", "since": iso(end - timedelta(days=7)), "until": iso(end)}


def server_side(lake_path: Path, repeat: int) -> dict[str, float]:
    import duckdb
    from fastapi.testclient import TestClient

    from trailscope import Lake
    from trailscope.web import create_app

    files = [str(p) for p in Lake(lake_path).files()]
    con = duckdb.connect()

    def baseline() -> Any:
        return con.execute(
            "SELECT count(*), count(DISTINCT eventname), count(errorcode) FROM read_parquet(?)",
            [files],
        ).fetchall()

    base_times, _ = timed(baseline, repeat)
    app = create_app(lake_path)
    site = app.state.site
    site.view.cache_size = 0  # every run computes: no remembered answer or page
    client = TestClient(app)
    win = window(lake_path)
    print(f"\nserver side, the lake's last 7 days, median (min-max) of {repeat}, uncached")
    print(f"baseline: one DuckDB scan of 3 columns over all files: {spread(base_times)} ms\n")
    print(f"{'page':28s} {'ms':>22s}  {'slowest panel':24s} {'ms':>6s}  goal")
    results = {}
    for name in site.registry.all():

        def page(n: str = name) -> Any:
            return client.get(f"/d/{n}?" + urlencode(win))

        times, _ = timed(page, repeat)
        data = client.get(f"/d/{name}.json?" + urlencode(win)).json()
        slow = max(data["panels"], key=lambda p: p.get("ms", 0))
        ok = "met" if statistics.median(times) < DASHBOARD_GOAL_MS else "NOT MET"
        print(f"{name:28s} {spread(times):>22s}  {slow['id']:24s} {slow.get('ms', 0):6.0f}  {ok}")
        results[name] = statistics.median(times)
    print()
    for label, view in EXPLORE_VIEWS.items():
        if "is.useragent" in view:
            view = {**view, "is.useragent": "console.amazonaws.com"}

        def explore(v: dict[str, str] = view) -> Any:
            return client.get("/explore?" + urlencode({**win, **v}))

        times, answer = timed(explore, repeat)
        assert answer.status_code == 200, answer.text[:300]
        ok = "met" if statistics.median(times) < EXPLORE_GOAL_MS else "NOT MET"
        print(f"{'explore: ' + label:28s} {spread(times):>22s}  {'':24s} {'':6s}  {ok}")
        results["explore: " + label] = statistics.median(times)
    site.view.close()
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_side(lake_path: Path, repeat: int) -> dict[str, float]:
    import httpx
    from playwright.sync_api import sync_playwright

    from trailscope.web.dashboards import load_builtin

    port = free_port()
    cmd = [sys.executable, "-c", "from trailscope.cli import main; main()", "serve"]
    proc = subprocess.Popen([*cmd, "--lake", str(lake_path), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    pages = {f"/d/{n}": n for n in load_builtin()}
    pages |= {"/events": "events", "/explore": "explore", "/detections": "detections"}
    results = {}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/status").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(5)  # let the start-up warm-up finish: it is not what is measured
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            print("\nbrowser: navigation start -> interactive, each load a new window (uncached)")
            print(f"(goal < {DASHBOARD_GOAL_MS} ms); weight: HTML sent (gzip) / unpacked\n")
            print(f"{'page':16s} {'interactive ms':>22s} {'server ms':>10s} {'HTML kB':>16s}  goal")
            shift = 0
            for url, name in pages.items():
                times, server, sent, unpacked = [], [], 0, 0
                for _ in range(repeat):
                    shift += 7
                    page.goto(
                        base + url + "?" + urlencode(window(lake_path, shift)),
                        wait_until="domcontentloaded",
                    )
                    page.wait_for_function("document.body.dataset.ready === '1'")
                    nav = page.evaluate(
                        "(() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.domInteractive, n.responseStart - n.requestStart,"
                        " n.encodedBodySize, n.decodedBodySize]; })()"
                    )
                    times.append(nav[0])
                    server.append(nav[1])
                    sent, unpacked = nav[2], nav[3]
                ok = "met" if statistics.median(times) < DASHBOARD_GOAL_MS else "NOT MET"
                print(
                    f"{name:16s} {spread(times):>22s} {statistics.median(server):10.0f} "
                    f"{sent / 1024:7.1f} / {unpacked / 1024:6.1f}  {ok}"
                )
                results[name] = statistics.median(times)
            assets = page.evaluate(
                "performance.getEntriesByType('resource').filter(r => r.name.includes('/static/'))"
                ".map(r => [r.name.split('/').pop(), r.encodedBodySize, r.decodedBodySize])"
            )
            seen = {}
            for asset, enc, dec in assets:
                seen.setdefault(asset, (enc, dec))
            weights = ", ".join(
                f"{a} {e / 1024:.1f} kB ({d / 1024:.1f})" for a, (e, d) in seen.items()
            )
            print(f"\nstatic files, sent once per browser (gzip, unpacked): {weights}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    lake = build_lake(args.events, args.seed)
    server = server_side(lake, args.repeat)
    browser = browser_side(lake, args.repeat)
    dashboards = {k: v for k, v in browser.items() if k not in ("events", "explore", "detections")}
    print(
        f"\nslowest dashboard interactive (uncached): {max(dashboards.values()):.0f} ms; "
        f"slowest Explore view on the server: "
        f"{max(v for k, v in server.items() if k.startswith('explore')):.0f} ms"
    )


if __name__ == "__main__":
    main()
