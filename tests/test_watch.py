"""``trailscope watch``: one cycle, one watch per lake, signals, outages, and its health.

The watch runs as its own process (as a service would) on a trail grown by the synth's
LiveTrail; alerts are counted at a real HTTP receiver. What the lake must hold comes from one
plain ``ingest`` of the whole trail into another lake, never from the watch's own account.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from trailfiles import lake_event_ids
from watchkit import Receiver, cycles, health, start_watch, wait_for, watch_command

from trailscope.exitcodes import ExitCode
from trailscope.facade import Lake
from trailscope.synth import LiveTrail
from trailscope.synth.incidents import INCIDENTS, PlantedIncident

pytestmark = pytest.mark.slow

START = dt.datetime(2024, 7, 16, 9, 30, tzinfo=dt.UTC)
#: A webhook URL is its own password: it must never be shown.
SECRET = "s3cr3t-token-4f9a"


def at(hours: float) -> dt.datetime:
    return START + dt.timedelta(hours=hours)


def live_trail(root: Path, *, poison: bool = False, events: int = 3000) -> LiveTrail:
    incidents = {name: at(1 + 0.5 * i) for i, name in enumerate(INCIDENTS)}
    kinds = [("not-json", at(0.8)), ("oversized-event", at(2.2))] if poison else []
    return LiveTrail(root, start=START, events=events, days=1, incidents=incidents, poison=kinds)


def reference_ids(trail: Path, where: Path) -> Counter:
    """The events one ingest of the whole trail gives."""
    Lake(where).ingest(str(trail), workers=1)
    return lake_event_ids(where)


def alerts_per_incident(
    incidents: list[PlantedIncident], alerts: list[dict[str, Any]]
) -> dict[str, int]:
    """How many alerts name each planted incident's rule and hold its events."""
    out = {}
    for incident in incidents:
        out[incident.name] = sum(
            1
            for a in alerts
            if a["finding"]["rule_id"] == incident.rule_id
            and set(incident.event_ids) & set(a["finding"]["event_ids"])
        )
    return out


def run_once(trail: Path, lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        watch_command(str(trail), lake, "--once", *args),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def once(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A whole trail (with poison) through one 'watch --once', then a second, idle one."""
    root = tmp_path_factory.mktemp("watch-once")
    live = live_trail(root / "trail", poison=True)
    live.advance(live.end)
    with Receiver() as receiver:
        hook = f"webhook={receiver.url}?token={SECRET}"
        first = run_once(root / "trail", root / "lake", "--alert", hook)
        after_first = receiver.received()
        second = run_once(root / "trail", root / "lake", "--alert", hook)
        after_second = receiver.received()
    return {
        "root": root,
        "live": live,
        "first": first,
        "second": second,
        "alerts": after_first,
        "alerts_after_second": after_second,
    }


def test_one_cycle_ingests_the_trail_and_alerts_each_incident_once(once: dict[str, Any]) -> None:
    root, live, first = once["root"], once["live"], once["first"]
    assert first.returncode == ExitCode.QUARANTINED, first.stderr  # the poison
    assert lake_event_ids(root / "lake") == reference_ids(root / "trail", root / "reference")
    alerts = once["alerts"]
    assert alerts_per_incident(live.incidents, alerts) == {i.name: 1 for i in live.incidents}
    keys = [a["idempotency_key"] for a in alerts]
    assert len(keys) == len(set(keys)) and len({a["finding_id"] for a in alerts}) == len(alerts)
    record = health(root / "lake")  # after the second cycle too
    assert record is not None and record["state"] == "stopped"
    assert record["totals"]["alerts_sent"] == len(alerts)
    assert record["totals"]["alerts_failed"] == 0


def test_a_cycle_with_nothing_new_alerts_nothing_again(once: dict[str, Any]) -> None:
    second = once["second"]
    assert second.returncode == ExitCode.OK, second.stderr
    assert once["alerts_after_second"] == once["alerts"]
    record = health(once["root"] / "lake")
    assert record is not None
    assert record["totals"]["cycles"] == 2
    assert record["last_cycle"]["objects"] == 0 and record["last_cycle"]["alerts_sent"] == 0
    assert record["last_cycle"]["result"] == "ok"
    assert record["totals"]["quarantined"] == 2  # one whole object, one event


def test_lake_info_shows_the_watch_health_and_no_secret(once: dict[str, Any]) -> None:
    lake = once["root"] / "lake"
    shown = subprocess.run(
        ["python", "-m", "trailscope", "lake", "info", "--lake", str(lake)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    alerts = len(once["alerts"])
    assert "watch" in text and "stopped" in text
    assert any(line.split()[:3] == ["last", "cycle", "ok"] for line in text.splitlines())
    assert f"{alerts} alerts sent" in text and "2 cycles (0 failed)" in text
    as_json = subprocess.run(
        ["python", "-m", "trailscope", "lake", "info", "--lake", str(lake), "--json"],
        capture_output=True,
        text=True,
    )
    data = json.loads(as_json.stdout)
    assert data["watch"]["totals"]["alerts_sent"] == alerts
    assert data["watch"]["destinations"] == ["webhook"]
    for output in (text, as_json.stdout, (lake / "_trailscope" / "watch.json").read_text()):
        assert SECRET not in output
    assert SECRET not in once["first"].stderr + once["second"].stderr


def test_metrics_are_prometheus_text_and_status_shows_the_watch(once: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from trailscope.web import create_app

    lake = once["root"] / "lake"
    record = health(lake)
    assert record is not None
    with TestClient(create_app(str(lake))) as client:
        reply = client.get("/metrics")
        status = client.get("/status.json").json()
        page = client.get("/status").text
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    values = {s.name: s.value for f in families.values() for s in f.samples}
    assert families["trailscope_watch_alerts_sent"].type == "counter"
    assert values["trailscope_watch_alerts_sent_total"] == record["totals"]["alerts_sent"]
    assert values["trailscope_watch_events_total"] == record["totals"]["events"]
    assert values["trailscope_watch_cycles_total"] == 2
    assert values["trailscope_watch_up"] == 0  # stopped
    assert values["trailscope_watch_last_cycle_success"] == 1
    assert values["trailscope_watch_ingest_lag_seconds"] > 0
    assert status["watch"]["totals"] == record["totals"]
    assert 'id="watch"' in page and SECRET not in page and SECRET not in reply.text


def test_metrics_without_a_watch_say_it_is_down(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from trailscope.web import create_app

    trail = tmp_path / "trail"
    live_trail(trail, events=500).advance(at(2))
    Lake(tmp_path / "lake").ingest(str(trail), workers=1)
    with TestClient(create_app(str(tmp_path / "lake"))) as client:
        text = client.get("/metrics").text
        status = client.get("/status.json").json()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert [(s.name, s.value) for s in samples] == [("trailscope_watch_up", 0)]
    assert status["watch"] is None


def test_a_second_watch_on_the_same_lake_is_refused(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    live_trail(trail, events=500).advance(at(2))
    first = start_watch(str(trail), tmp_path / "lake", "--every", "1s", log=tmp_path / "w.log")
    try:
        wait_for(lambda: cycles(tmp_path / "lake") >= 1, 120, "the first watch's first cycle")
        second = run_once(trail, tmp_path / "lake")
        assert second.returncode == ExitCode.ERROR
        lines = second.stderr.strip().splitlines()
        assert lines[-2].startswith("error: lake ")
        assert lines[-2].endswith(
            f"is already watched by another process (pid {first.pid} on {os.uname().nodename}, "
            f"since {health(tmp_path / 'lake')['started_at']})"  # type: ignore[index]
        )
        assert lines[-1] == "hint: stop that watch first; one watch per lake"
        assert first.poll() is None  # the first one is untouched
    finally:
        first.terminate()
        assert first.wait(60) == ExitCode.OK


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_the_watch_cleanly_and_the_next_start_resumes(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    trail, lake = tmp_path / "trail", tmp_path / "lake"
    live = live_trail(trail)
    live.advance(at(1.5))
    with Receiver() as receiver:
        hook = f"webhook={receiver.url}"
        proc = start_watch(
            str(trail), lake, "--every", "1s", "--alert", hook, log=tmp_path / "w.log"
        )
        try:
            wait_for(lambda: cycles(lake) >= 1, 120, "a first cycle")
            live.advance(at(3))
            seen = cycles(lake)
            wait_for(lambda: cycles(lake) > seen + 1, 120, "a cycle after the trail grew")
            proc.send_signal(sig)
            assert proc.wait(60) == code
        finally:
            if proc.poll() is None:
                proc.kill()
        record = health(lake)
        assert record is not None and record["state"] == "stopped"
        assert record["last_cycle"]["result"] in ("ok", "quarantined")
        live.advance(live.end)
        resumed = run_once(trail, lake, "--alert", hook)
        assert resumed.returncode == ExitCode.OK, resumed.stderr
        alerts = receiver.received()
    assert lake_event_ids(lake) == reference_ids(trail, tmp_path / "reference")
    assert alerts_per_incident(live.incidents, alerts) == {i.name: 1 for i in live.incidents}
    assert len({a["idempotency_key"] for a in alerts}) == len(alerts)


def test_a_source_out_of_reach_is_retried_then_caught_up(tmp_path: Path) -> None:
    trail, lake = tmp_path / "trail", tmp_path / "lake"
    live = live_trail(trail, events=1500)
    live.advance(at(2))
    log = tmp_path / "w.log"
    proc = start_watch(str(trail), lake, "--every", "1s", "--retry-cap", "2s", log=log)
    try:
        wait_for(lambda: cycles(lake) >= 1, 120, "a first cycle")
        trail.rename(tmp_path / "away")  # an unmounted share, a deleted folder
        wait_for(
            lambda: "source unreachable, retrying in" in log.read_text(), 60, "the retry message"
        )
        wait_for(lambda: (health(lake) or {}).get("consecutive_failures", 0) >= 3, 60, "retries")
        failed = health(lake)
        assert failed is not None and failed["last_cycle"]["result"] == "failed"
        assert failed["last_cycle"]["error"].startswith("no such folder")
        (tmp_path / "away").rename(trail)
        live.advance(live.end)
        wait_for(
            lambda: lake_event_ids(lake) == reference_ids(trail, tmp_path / "reference"),
            120,
            "the watch to catch up",
            every=2,
        )
        record = wait_for(
            lambda: (r := health(lake)) and r["consecutive_failures"] == 0 and r,
            60,
            "a good cycle recorded",
        )
        assert record["totals"]["failed_cycles"] >= 3
    finally:
        proc.terminate()
        proc.wait(60)
    text = log.read_text()
    retries = [line for line in text.splitlines() if "source unreachable, retrying in" in line]
    pauses = [int(line.split("retrying in ")[1].split("s")[0]) for line in retries]
    assert pauses[:3] == [1, 2, 2]  # doubling, capped by --retry-cap
