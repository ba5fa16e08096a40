"""Findings changed by several writers at once (a watch recording a run while a person
acknowledges or suppresses from the CLI or the web): every change lands, none is doubled.

Local lakes take the writer lock; S3 lakes (moto's server) commit optimistically and the loser
of a race recomputes its change on the winner's version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trailscope import Lake
from trailscope.detect.model import DetectionReport, Finding, Severity
from trailscope.findings import record_findings
from trailscope.findings.manage import list_findings, set_status, suppress

NOW = datetime(2024, 8, 1, tzinfo=UTC)


def _finding(n: int, rule: str = "root-console-login") -> Finding:
    return Finding(
        rule_id=rule,
        title="t",
        severity=Severity.HIGH,
        mitre=(),
        first_seen=f"2024-07-{n + 1:02d}T01:00:00Z",
        last_seen=f"2024-07-{n + 1:02d}T01:05:00Z",
        principal=f"arn:aws:iam::111122223333:user/u{n}",
        source_ip=f"203.0.113.{n}",
        account="111122223333",
        region="us-east-1",
        event_count=1,
        event_ids=[f"e-{rule}-{n}"],
    )


def _together(*jobs: Callable[[], object]) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], object]) -> None:
        try:
            start.wait()
            job()
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def _check(make: Callable[[], Lake]) -> None:
    empty = make()  # an empty lake (findings need no events to be stored)
    empty.storage.prepare()
    empty.manifest.initialize()
    first = record_findings(make(), DetectionReport(findings=[_finding(1), _finding(2)]), now=NOW)
    acked, other = first.ids
    more = DetectionReport(findings=[_finding(n, "iam-user-created") for n in range(3, 9)])
    _together(
        lambda: record_findings(make(), more, now=NOW),
        lambda: set_status(make(), acked, "acknowledged", note="seen"),
        lambda: suppress(make(), principal="arn:aws:iam::*:user/u2", note="test user"),
        lambda: record_findings(make(), DetectionReport(findings=[_finding(9)]), now=NOW),
    )
    rows = {r["finding_id"]: r for r in list_findings(make())}
    assert len(rows) == 2 + 6 + 1
    assert (rows[acked]["status"], rows[acked]["note"]) == ("acknowledged", "seen")
    assert rows[other]["status"] == "suppressed"
    assert sum(r["status"] == "open" for r in rows.values()) == 7


def test_local_writers_take_turns_and_all_changes_land(tmp_path: Path) -> None:
    _check(lambda: Lake(tmp_path / "lake"))


def test_s3_writers_recompute_after_a_lost_race(s3_server: str, s3_bucket: tuple[str, str]) -> None:
    uri = f"s3://{s3_bucket[1]}/lake"
    _check(lambda: Lake(uri, endpoint_url=s3_server))


@pytest.mark.parametrize("ids", [["a"], []])
def test_an_empty_run_commits_nothing(tmp_path: Path, ids: list[str]) -> None:
    lake = Lake(tmp_path / "lake")
    lake.storage.prepare()
    lake.manifest.initialize()
    record_findings(lake, DetectionReport(findings=[_finding(1)]), now=NOW)
    commits = lake.state().commits
    again = DetectionReport(findings=[_finding(1)] if ids else [])
    record_findings(lake, again, now=NOW)
    assert lake.state().commits == commits


def _receiver() -> tuple[str, list[str], Callable[[], None]]:
    import http.server

    keys: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            keys.append(self.headers["Idempotency-Key"])
            time.sleep(0.05)  # a receiver that takes a moment: deliveries overlap
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/hook", keys, stop


def _deliver_at_once(make: Callable[[], Lake]) -> None:
    from trailscope.alerts import parse_destination
    from trailscope.findings import deliver_pending

    empty = make()
    empty.storage.prepare()
    empty.manifest.initialize()
    url, keys, stop = _receiver()
    try:
        hook = parse_destination(f"webhook={url}")
        report = DetectionReport(findings=[_finding(n) for n in range(1, 7)])
        queued = record_findings(make(), report, [hook], now=NOW)  # queued, not delivered
        sent: list[int] = []
        _together(*[lambda: sent.append(deliver_pending(make(), [hook]).alerts_sent)] * 4)
        assert sorted(keys) == sorted(f"{fid}:1" for fid in queued.ids)  # each exactly once
        assert sum(sent) == 6
        assert deliver_pending(make(), [hook]).alerts_sent == 0
    finally:
        stop()


def test_deliveries_at_once_on_a_local_lake_send_each_alert_once(tmp_path: Path) -> None:
    _deliver_at_once(lambda: Lake(tmp_path / "lake"))


def test_deliveries_at_once_on_an_s3_lake_send_each_alert_once(
    s3_server: str, s3_bucket: tuple[str, str]
) -> None:
    uri = f"s3://{s3_bucket[1]}/lake"
    _deliver_at_once(lambda: Lake(uri, endpoint_url=s3_server))
