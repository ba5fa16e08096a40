"""`trailscope demo`: the whole product in one command, as a new user first meets it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope.cli import EXIT_OK, app
from trailscope.facade import open_lake


@pytest.mark.slow
def test_demo_writes_ingests_asks_and_detects(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path), "--events", "3000", "--no-serve"]
    )
    assert result.exit_code == EXIT_OK, result.output
    text = " ".join(result.stdout.split())  # tables wrap titles at the terminal's width
    for title in ("Console logins by outcome", "What root did", "Top errors"):
        assert title in text
    assert "Detections that fired" in text
    assert "root-console-login" in text  # a planted incident, caught
    lake = open_lake(tmp_path / "lake")
    written = re.search(r"([\d,]+) events in [\d,]+ files", result.stdout)
    assert written is not None
    assert lake.info().events == int(written.group(1).replace(",", ""))
    # The sample trail ends now, so windows counted back from the wall clock find it (a sparse
    # trail's people keep office hours: its newest event may be this afternoon's).
    newest = lake.query("SELECT max(eventtime) AS t FROM cloudtrail").to_pylist()[0]["t"]
    newest = datetime.fromisoformat(str(newest).replace("Z", "+00:00"))
    newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    assert datetime.now(UTC) - timedelta(hours=24) < newest <= datetime.now(UTC)
    assert "--since 7d" in result.stdout


def test_demo_progress_counts_events() -> None:
    from rich.progress import TextColumn

    from trailscope.cli.demo import _events_progress

    labels = [
        c.text_format for c in _events_progress(quiet=True).columns if isinstance(c, TextColumn)
    ]
    assert "events" in labels and not any("files" in label for label in labels)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_ends_serving_the_dashboards_until_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trailscope",
            "demo",
            "--dir",
            str(tmp_path),
            "--events",
            "2000",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 240
        lines = []
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if match := re.search(r"serving (http://127\.0\.0\.1:\d+/\S*)", line):
                url = match.group(1)
        assert url is not None, "".join(lines)
        assert url.startswith(f"http://127.0.0.1:{port}/")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "trailscope" in response.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert "stopped serving; the trail and the lake stay in" in proc.stdout.read()  # type: ignore[union-attr]
