"""What the watch tests share: a webhook receiver, a mail sink, the watch as a process.

The receiver and the mail server are real servers on loopback (http.server, aiosmtpd), so an
alert is counted only when it arrived over the wire, as a real destination would see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps every JSON body POSTed to it, in order.

    ``fail`` set to True answers 503 (an alert destination that is down)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.bodies)


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something true; fail the test naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def health(lake: Path) -> dict[str, Any] | None:
    """The watch's health record as stored (read without trailscope's code)."""
    try:
        return json.loads((lake / "_trailscope" / "watch.json").read_bytes())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def cycles(lake: Path) -> int:
    record = health(lake)
    return int(record["totals"]["cycles"]) if record else 0


def watch_command(source: str, lake: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trailscope", "watch", source, "--lake", str(lake), *args]


def start_watch(
    source: str, lake: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``trailscope watch`` as a process of its own (its output to ``log``)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        watch_command(source, lake, *args),
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def rss_kb(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
