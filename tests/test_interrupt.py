"""Ctrl-C stops a running query at once: on the command line (``query``, ``run``, ``detect``) and
in the Python API, where the Lake stays usable for the next query.

Each test starts a real process on a query that would run for hours, sends it SIGINT once the
query runs, and times how long the process takes to end.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.exitcodes import ExitCode

pytestmark = pytest.mark.slow

#: Hours of work on any lake: every event against every one of 10^11 numbers.
SLOW_SQL = (
    "SELECT count(*) AS n FROM cloudtrail a CROSS JOIN range(100000000000) r "
    "WHERE hash(a.eventid, r.range) % 1000 = 1"
)
#: What the command line says when Ctrl-C stops a query.
STOPPED = "interrupted: the query was stopped; the lake is unchanged\n"
#: Seconds from Ctrl-C to the query stopped and said so (measured: 5-100 ms).
PROMPT = 1.0
#: ... and to the process gone: Python's own exit adds about half a second on a busy machine.
GONE = 3.0


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    day = root / "src/AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    day.mkdir(parents=True)
    events = [
        {
            "eventTime": f"2024-07-01T10:{i // 60:02d}:{i % 60:02d}Z",
            "eventID": f"e{i}",
            "eventName": "ListBuckets",
            "eventSource": "s3.amazonaws.com",
            "recipientAccountId": "111122223333",
        }
        for i in range(200)
    ]
    (day / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))
    result = CliRunner().invoke(
        app, ["ingest", str(root / "src"), "--lake", str(root / "lake"), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    return root / "lake"


class Running:
    """A process of the test, its output read as it comes; killed if the test fails."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self.arrived: dict[str, list[float]] = {"out": [], "err": []}  # when each line came
        self.new = threading.Condition()
        self.readers = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[str], name: str) -> None:
        for line in stream:
            with self.new:
                self.lines[name].append(line)
                self.arrived[name].append(time.monotonic())
                self.new.notify_all()

    def wait_for(self, name: str, text: str, limit: float = 60) -> None:
        """Until a line of stdout/stderr (``name``) contains ``text``: the process is ready."""
        with self.new:
            found = self.new.wait_for(
                lambda: any(text in x for x in self.lines[name]) or self.proc.poll() is not None,
                timeout=limit,
            )
        assert found and self.proc.poll() is None, f"no line with {text!r}: {self.lines}"

    def interrupt(self, name: str, text: str) -> float:
        """SIGINT; the seconds until the process printed a line with ``text`` on ``name``
        (stdout or stderr), after checking it then ended within :data:`GONE` seconds."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        assert time.monotonic() - sent < GONE
        for reader in self.readers:
            reader.join(timeout=10)
        said = [t for t, x in zip(self.arrived[name], self.lines[name], strict=True) if text in x]
        assert said, self.lines
        return said[0] - sent

    def output(self, name: str) -> str:
        return "".join(self.lines[name])

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _trailscope(*args: str) -> list[str]:
    return [sys.executable, "-m", "trailscope", *args]


def test_ctrl_c_stops_query_at_once(lake: Path) -> None:
    with Running(_trailscope("query", SLOW_SQL, "--lake", str(lake), "--show-sql")) as run:
        run.wait_for("err", "100000000000")  # --show-sql prints the SQL, then it runs
        time.sleep(1.0)
        took = run.interrupt("err", STOPPED)
    assert run.proc.returncode == ExitCode.INTERRUPTED == 130
    assert run.output("err").endswith(STOPPED) and "Traceback" not in run.output("err")
    assert run.output("out") == ""
    assert took < PROMPT, f"took {took:.2f} s after Ctrl-C"


def test_ctrl_c_stops_a_saved_query(lake: Path, tmp_path: Path) -> None:
    (tmp_path / "slow.sql").write_text(f"-- title: Slow\n-- description: never ends\n{SLOW_SQL}\n")
    args = ["run", "slow", "--queries-dir", str(tmp_path), "--lake", str(lake), "--show-sql"]
    with Running(_trailscope(*args)) as run:
        run.wait_for("err", "100000000000")
        time.sleep(1.0)
        took = run.interrupt("err", STOPPED)
    assert run.proc.returncode == 130
    assert run.output("err").endswith(STOPPED) and "Traceback" not in run.output("err")
    assert took < PROMPT, f"took {took:.2f} s after Ctrl-C"


def test_ctrl_c_stops_detect(lake: Path, tmp_path: Path) -> None:
    """detect prints nothing before its queries: the same run with an instant rule says how
    long the start takes, and the signal comes well after that."""
    rule = textwrap.dedent(
        """\
        id: {id}
        title: {id}
        severity: low
        where: eventname = 'ListBuckets' AND {condition}
        """
    )
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    for folder, condition in ((fast, "true"), (slow, f"(SELECT n > 0 FROM ({SLOW_SQL}))")):
        folder.mkdir()
        (folder / "rule.yml").write_text(rule.format(id=folder.name, condition=condition))
    args = ["detect", "--no-builtin", "--lake", str(lake), "--rules"]
    started = time.monotonic()
    done = subprocess.run(_trailscope(*args, str(fast)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "1 rules ran: 1 findings" in done.stderr
    setup = time.monotonic() - started
    with Running(_trailscope(*args, str(slow))) as run:
        time.sleep(setup + 1.5)
        assert run.proc.poll() is None, run.lines
        took = run.interrupt("err", STOPPED)
    assert run.proc.returncode == 130
    assert run.output("err").endswith(STOPPED) and "Traceback" not in run.output("err")
    assert took < PROMPT, f"took {took:.2f} s after Ctrl-C"


def test_ctrl_c_in_the_python_api_stops_the_query_and_the_lake_goes_on(lake: Path) -> None:
    script = textwrap.dedent(
        f"""\
        import time
        from trailscope import open_lake

        lake = open_lake({str(lake)!r})
        print("events", lake.query("SELECT count(*) AS n FROM cloudtrail")["n"][0], flush=True)
        try:
            print("running", flush=True)
            lake.query({SLOW_SQL!r})
        except KeyboardInterrupt as exc:
            print("stopped", type(exc).__name__, flush=True)
        print("events", lake.query("SELECT count(*) AS n FROM cloudtrail")["n"][0], flush=True)
        """
    )
    with Running([sys.executable, "-c", script]) as run:
        run.wait_for("out", "running")
        time.sleep(1.0)
        took = run.interrupt("out", "stopped")
    assert run.proc.returncode == 0, run.output("err")
    assert run.output("out").splitlines() == [
        "events 200",
        "running",
        "stopped QueryInterrupted",
        "events 200",
    ]
    assert took < PROMPT, f"took {took:.2f} s after Ctrl-C"
