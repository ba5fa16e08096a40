"""A live trail: the synthetic trail written as CloudTrail delivers it (``LiveTrail``).

Tools that watch a trail need one that grows: each object must appear only once delivered, the
whole must be the very trail ``synth_trail`` writes for the same span, planted incidents and
poison objects must land when asked and be reported so a test can assert what detections and
quarantine must find.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from test_synth_stable import fixed_signing_key
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.exitcodes import ExitCode
from trailscope.facade import Lake
from trailscope.synth import INCIDENTS, POISON_KINDS, LiveTrail, S3Sink, synth_trail

pytestmark = pytest.mark.slow

UTC = dt.UTC
START = dt.datetime(2024, 7, 16, 9, 30, tzinfo=UTC)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def at(hours: float) -> dt.datetime:
    return START + dt.timedelta(hours=hours)


def test_a_live_trail_is_the_one_shot_trail_delivered_bit_by_bit(tmp_path: Path) -> None:
    options: dict[str, Any] = {"events": 2500, "days": 1, "signing_key": fixed_signing_key()}
    report = synth_trail(tmp_path / "once", end=START + dt.timedelta(days=1), **options)
    live = LiveTrail(tmp_path / "live", start=START, **options)
    step = dt.timedelta(minutes=23)
    moment = live.start
    while not live.finished:
        moment += step
        live.advance(moment)
    assert files(tmp_path / "live") == files(tmp_path / "once")
    assert live.incidents == report.incidents
    assert {d.key for d in live.delivered} == {
        p.as_posix() for p in report.files if not p.as_posix().startswith("_synth/")
    }


def test_objects_appear_only_once_delivered(tmp_path: Path) -> None:
    live = LiveTrail(tmp_path, start=START, events=1500, days=1)
    on_disk: set[str] = set()
    before = live.now
    for hours in (0.1, 0.25, 1, 1.05, 3.5, 9, 24, 30):
        to = at(hours)
        written = live.advance(to)
        assert all(before <= d.delivered < to for d in written)
        keys = [d.key for d in written]
        assert len(set(keys)) == len(keys) and not set(keys) & on_disk
        on_disk |= set(keys)
        assert set(files(tmp_path)) == on_disk
        for d in written:
            if d.kind == "log":  # named after its delivery minute, its events older still
                stamp = d.key.rsplit("_", 2)[1]
                assert stamp == d.delivered.strftime("%Y%m%dT%H%MZ")
                content = json.loads(gzip.decompress((tmp_path / d.key).read_bytes()))
                newest = max(r["eventTime"] for r in content["Records"])
                assert newest < d.delivered.strftime("%Y-%m-%dT%H:%M:%SZ")
                assert len(content["Records"]) == d.events
            if d.kind == "digest":  # at the end of its hour, which it names
                doc = json.loads(gzip.decompress((tmp_path / d.key).read_bytes()))
                assert doc["digestEndTime"] == d.delivered.strftime("%Y-%m-%dT%H:%M:%SZ")
        before = to
    assert live.advance(at(2)) == []  # the clock never goes back
    assert {d.kind for d in live.delivered} == {"log", "digest", "insight", "other"}


def test_the_same_objects_however_the_clock_moves(tmp_path: Path) -> None:
    options: dict[str, Any] = {"start": START, "events": 800, "days": 1, "insights": False}
    once = LiveTrail(tmp_path / "a", **options)
    once.advance(at(48))
    often = LiveTrail(tmp_path / "b", **options)
    for minutes in range(0, 48 * 60, 7):
        often.advance(START + dt.timedelta(minutes=minutes))
    often.advance(at(48))
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_incidents_happen_at_the_moments_chosen(tmp_path: Path) -> None:
    chosen = {"console-login-brute-force": at(1.5), "cloudtrail-stop-logging": at(2.25)}
    live = LiveTrail(tmp_path, start=START, events=1500, days=1, incidents=chosen)
    assert {i.name for i in live.incidents} == set(chosen)
    for incident in live.incidents:
        assert incident.time is not None
        assert (
            chosen[incident.name]
            <= incident.time
            < chosen[incident.name] + dt.timedelta(seconds=30)
        )
    # Not written before CloudTrail would deliver them, and written once it has.
    live.advance(at(1.5))
    assert not _written_event_ids(tmp_path) & set(live.incidents[0].event_ids)
    live.advance(at(1.5) + dt.timedelta(minutes=30))
    brute = next(i for i in live.incidents if i.name == "console-login-brute-force")
    assert set(brute.event_ids) <= _written_event_ids(tmp_path)


def _written_event_ids(root: Path) -> set[str]:
    ids = set()
    for path in root.rglob("*_CloudTrail_*.json.gz"):
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            ids.add(record["eventID"])
    return ids


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"poison": [("zip-bomb", START)]}, "unknown poison kind 'zip-bomb'"),
        ({"incidents": {"alien-landing": START}}, "unknown incidents ['alien-landing']"),
        (
            {"incidents": {"cloudtrail-stop-logging": at(-1)}},
            "incident cloudtrail-stop-logging at 2024-07-16T08:30:00+00:00 is outside the trail",
        ),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        LiveTrail(tmp_path, start=START, events=100, **arguments)
    assert message in str(raised.value)
    assert not any(tmp_path.iterdir())


def test_synth_trail_plants_incidents_at_chosen_moments_too(tmp_path: Path) -> None:
    chosen = {"root-console-login-without-mfa": at(20), "console-login-brute-force": at(0.5)}
    report = synth_trail(tmp_path, events=800, days=1, end=at(24), incidents=chosen)
    live = LiveTrail(tmp_path / "live", start=START, events=800, days=1, incidents=chosen)
    assert report.incidents == live.incidents
    assert [(i.name, i.time.hour if i.time else None) for i in report.incidents] == [
        ("root-console-login-without-mfa", 5),
        ("console-login-brute-force", 10),
    ]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[LiveTrail, Lake, Any]:
    """A live trail with incidents at chosen moments and every kind of poison, grown to its end
    in a few steps, ingested once, and run through 'trailscope detect'."""
    root = tmp_path_factory.mktemp("live-detect")
    incidents = {name: at(2 + 1.5 * i) for i, name in enumerate(INCIDENTS)}
    poison = [(kind, at(1 + i)) for i, kind in enumerate(POISON_KINDS)]
    live = LiveTrail(
        root / "trail", start=START, events=6000, days=1, incidents=incidents, poison=poison
    )
    for hours in (1.5, 4, 12, 30):
        live.advance(at(hours))
    assert live.finished
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    result = CliRunner().invoke(app, ["detect", "--lake", str(root / "lake"), "--format", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    return live, lake, json.loads(result.stdout)


@pytest.mark.slow
def test_detect_finds_every_planted_incident_at_its_moment(ingested: Any) -> None:
    live, lake, detected = ingested
    findings = detected  # 'detect --format json': a list of findings
    assert {i.name for i in live.incidents} == set(INCIDENTS)
    for incident in live.incidents:
        caught = {e for f in findings if f["rule_id"] == incident.rule_id for e in f["event_ids"]}
        assert set(incident.event_ids) <= caught, incident.name
        ids = ", ".join(f"'{e}'" for e in incident.event_ids)
        rows = lake.query(f"SELECT min(eventtime) AS t FROM cloudtrail WHERE eventid IN ({ids})")
        first = rows.to_pylist()[0]["t"]
        first = dt.datetime.fromisoformat(str(first).replace("Z", "+00:00"))
        assert (first if first.tzinfo else first.replace(tzinfo=UTC)) == incident.time
    # The high-severity rules fire on the planted events and nothing else.
    for rule_id in (
        i.rule_id for i in live.incidents if i.rule_id != "access-key-created-for-another-user"
    ):
        found = {e for f in findings if f["rule_id"] == rule_id for e in f["event_ids"]}
        planted = {e for i in live.incidents if i.rule_id == rule_id for e in i.event_ids}
        assert found == planted, rule_id


@pytest.mark.slow
def test_exactly_the_poison_is_quarantined(ingested: Any) -> None:
    live, lake, _ = ingested
    assert live.root is not None
    info = lake.info()
    whole = {
        Path(q.uri).relative_to(live.root).as_posix() for q in info.quarantine if q.position is None
    }
    assert whole == {p.key for p in live.poison if p.quarantine == "object"}
    single = [
        Path(q.uri).relative_to(live.root).as_posix()
        for q in info.quarantine
        if q.position is not None
    ]
    assert single == [p.key for p in live.poison if p.quarantine == "event"]
    assert info.quarantined_events == len(single) == 1
    # Everything else is kept, each event once (re-delivered copies dropped).
    assert info.events == len(_unique_ids(live)) + sum(p.events for p in live.poison)


def _unique_ids(live: LiveTrail) -> set[str]:
    assert live.root is not None
    poison = {p.key for p in live.poison}
    ids = set()
    for d in live.delivered:
        if d.kind in ("log", "insight") and d.key not in poison:
            for record in json.loads(gzip.decompress((live.root / d.key).read_bytes()))["Records"]:
                ids.add(record["eventID"])
    return ids


def test_a_live_trail_grows_in_an_s3_bucket(tmp_path: Path, s3_client: Any) -> None:
    s3_client.create_bucket(Bucket="live-trail")
    options: dict[str, Any] = {"start": START, "events": 600, "days": 1}
    poison = [("not-json", at(0.5))]
    in_bucket = LiveTrail(S3Sink(s3_client, "live-trail", "prefix/"), poison=poison, **options)
    in_folder = LiveTrail(tmp_path, poison=poison, **options)
    for hours in (0.5, 2):
        written = in_bucket.advance(at(hours))
        assert written == in_folder.advance(at(hours))
        listed = s3_client.list_objects_v2(Bucket="live-trail")["Contents"]
        assert {o["Key"] for o in listed} == {"prefix/" + d.key for d in in_bucket.delivered}
    for d in in_bucket.delivered:
        body = s3_client.get_object(Bucket="live-trail", Key="prefix/" + d.key)["Body"].read()
        assert body == (tmp_path / d.key).read_bytes()
