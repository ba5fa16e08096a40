"""Time windows never miss silently: one rule (ages count back from now) for the CLI, the API
and the web, the resolved window always printed, and a note with the lake's first and last
event when the window misses the lake or covers only part of it.

The expected times come from the trail files themselves (read here with gzip and json), and
epoch values from POSIX arithmetic, not from the code under test.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope import timewindow
from trailscope.cli import app
from trailscope.detect import run_detections
from trailscope.errors import TrailscopeError
from trailscope.exitcodes import ExitCode
from trailscope.facade import Lake, open_lake
from trailscope.timeparse import parse_time
from trailscope.timewindow import WindowWarning, resolve

runner = CliRunner()
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# --------------------------------------------------------------------------- reading times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 1720051200 = 19908 days * 86400: 2024-07-04 00:00:00 UTC
        ("1720051200", datetime(2024, 7, 4, tzinfo=UTC)),
        ("1720051200000", datetime(2024, 7, 4, tzinfo=UTC)),
        ("1720051200.5", datetime(2024, 7, 4, 0, 0, 0, 500000, tzinfo=UTC)),
        ("now", NOW),
        ("NOW", NOW),
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("2d12h", NOW - timedelta(days=2, hours=12)),
        ("1w", NOW - timedelta(weeks=1)),
        ("2024-07-04", datetime(2024, 7, 4, tzinfo=UTC)),
        ("2024-07-04T09:00:00+09:00", datetime(2024, 7, 4, tzinfo=UTC)),
    ],
)
def test_times_as_people_type_them(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_an_epoch_is_never_read_as_a_year() -> None:
    """The bug of the issue: '1720051200' was read as the year 1720 (and matched everything)."""
    assert parse_time("1720051200").year == 2024


@pytest.mark.parametrize("text", ["yesterday", "1h30", "12345", "2024-13-01", "5 parsecs"])
def test_unreadable_times_say_what_to_write(text: str) -> None:
    with pytest.raises(TrailscopeError) as caught:
        parse_time(text, now=NOW)
    assert caught.value.message == f"cannot read time {text!r}"
    assert "epoch seconds or milliseconds" in (caught.value.hint or "")
    assert "1h30m" in (caught.value.hint or "")


def test_the_web_uses_the_same_window_module() -> None:
    from trailscope import timewindow
    from trailscope.web import filters

    assert filters.coverage is timewindow.coverage and filters.Span is timewindow.Span
    assert filters.read_time("1720051200", now=NOW, tz=filters.zone("Asia/Tokyo")) == datetime(
        2024, 7, 4, tzinfo=UTC
    )


# --------------------------------------------------------------------------- a lake


def _events(trail: Path) -> list[dict]:
    out: list[dict] = []
    for path in trail.rglob("*.json.gz"):
        if "CloudTrail-Digest" in str(path):  # digests hold no events; Insight files do
            continue
        out.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return list({e["eventID"]: e for e in out}.values())


@pytest.fixture(scope="module")
def trail_and_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    root = tmp_path_factory.mktemp("windows")
    trail, lake = root / "trail", root / "lake"
    # the README tour's trail: it ends 2024-07-17, so a 24h window misses it today
    made = runner.invoke(app, ["synth", str(trail), "--events", "3000", "--days", "3"])
    assert made.exit_code == 0, made.output
    done = runner.invoke(app, ["ingest", str(trail), "--lake", str(lake), "--workers", "1"])
    assert done.exit_code == 0, done.output
    return trail, lake, _events(trail)


def _span(events: list[dict]) -> tuple[str, str]:
    times = sorted(e["eventTime"] for e in events)
    return times[0], times[-1]


def _shown(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", " UTC")


def test_run_says_when_the_window_misses_the_lake(trail_and_lake) -> None:
    _, lake, events = trail_and_lake
    first, last = _span(events)
    result = runner.invoke(
        app, ["run", "events-in-window", "--since", "24h", "--lake", str(lake), "--csv"]
    )
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.count("\n") == 1  # the header only: no event is that recent
    err = " ".join(result.stderr.split())
    assert "window: " in err and "(now)" in err
    assert (
        f"the window misses the lake: the lake's events run from {_shown(first)} to "
        f"{_shown(last)}" in err
    )


def test_run_with_epoch_bounds_returns_that_window(trail_and_lake) -> None:
    _, lake, events = trail_and_lake
    day = sorted({e["eventTime"][:10] for e in events})[1]
    start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())
    args = ["run", "events-in-window", "--lake", str(lake), "--format", "json"]
    args += ["--since", str(start), "--until", str((start + 86399) * 1000)]
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.OK, result.output
    rows = json.loads(result.stdout)
    expected = sorted(e["eventID"] for e in events if e["eventTime"][:10] == day)
    assert sorted(r["eventid"] for r in rows) == expected and expected
    assert "window: " + _shown(f"{day}T00:00:00Z") in result.stderr
    assert "part of the window" not in result.stderr and "misses" not in result.stderr


def test_a_partial_window_is_reported_in_the_zone_asked_for(trail_and_lake) -> None:
    _, lake, events = trail_and_lake
    day = sorted({e["eventTime"][:10] for e in events})[-1]
    result = runner.invoke(
        app,
        ["run", "events-in-window", "--lake", str(lake), "--since", day, "--tz", "Asia/Tokyo"],
    )
    assert result.exit_code == ExitCode.OK, result.output
    err = " ".join(result.stderr.split())
    # the date is read in the zone asked for: its start is midnight in Tokyo
    assert f"window: {day} 00:00:00 JST" in err
    assert "the lake holds events for only part of the window" in err
    start = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(hours=9)
    expected = sorted(
        e["eventID"] for e in events if e["eventTime"] >= start.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    as_json = runner.invoke(
        app,
        [
            "run",
            "events-in-window",
            "--lake",
            str(lake),
            "--since",
            day,
            "--tz",
            "Asia/Tokyo",
            "--json",
        ],
    )
    assert sorted(r["eventid"] for r in json.loads(as_json.stdout)) == expected


@pytest.mark.slow
def test_detect_says_when_the_window_misses_the_lake(trail_and_lake) -> None:
    _, lake, events = trail_and_lake
    first, last = _span(events)
    result = runner.invoke(app, ["detect", "--lake", str(lake), "--since", "7d", "-F", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout) == []
    err = " ".join(result.stderr.split())
    assert f"the window misses the lake: the lake's events run from {_shown(first)}" in err
    # the API says the same in the report
    report = run_detections(open_lake(lake), since="7d")
    assert any("the window misses the lake" in w for w in report.warnings)
    assert report.to_json()["window"]["coverage"] == {
        "kind": "none",
        "lake_first": first,
        "lake_last": last,
    }


def test_lake_run_warns_and_records_the_window(trail_and_lake) -> None:
    _, lake, events = trail_and_lake
    first, last = _span(events)
    with Lake(lake) as lk:
        with pytest.warns(WindowWarning, match="the window misses the lake") as caught:
            table = lk.run("events-in-window", since="24h")
        assert table.num_rows == 0 and caught[0].filename == __file__
        window = json.loads(table.schema.metadata[b"trailscope.window"])
        assert window["coverage"] == {"kind": "none", "lake_first": first, "lake_last": last}
        # a window inside the lake: rows, and no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error", WindowWarning)
            inside = lk.run("events-in-window", since=first, until=last)
        assert inside.num_rows == len(events)


def test_a_window_starting_in_the_future_is_empty_not_an_error() -> None:
    window = resolve("2999-01-01", None, now=NOW)
    assert window.since == window.until
    with pytest.raises(TrailscopeError, match="the window starts after it ends"):
        resolve("2999-01-01", "2998-01-01", now=NOW)


@pytest.mark.slow
def test_an_epoch_since_on_the_command_line_as_typed(trail_and_lake) -> None:
    """Through a real process, as a user types it."""
    lake = trail_and_lake[1]
    args = ["detect", "--lake", str(lake), "--since", "1720051200", "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "trailscope", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "window: 2024-07-04 00:00:00 UTC" in result.stderr
    assert json.loads(result.stdout)  # the trail's planted incidents are found


def test_the_remembered_span_follows_a_new_ingest(tmp_path: Path) -> None:
    """The span is kept with the lake's engine, so a later commit must renew it."""
    trail, later = tmp_path / "trail", tmp_path / "later"
    for folder, end in ((trail, "2024-07-01T12:00Z"), (later, "2024-07-10T12:00Z")):
        args = ["synth", str(folder), "--events", "300", "--days", "1", "--end", end]
        made = runner.invoke(app, args)
        assert made.exit_code == 0, made.output
    lk = Lake(tmp_path / "lake")
    lk.ingest(str(trail))
    first_last = _span(_events(trail))
    assert timewindow.lake_span(lk) is timewindow.lake_span(lk)  # remembered
    before = timewindow.lake_span(lk)
    assert before.first is not None and before.latest is not None
    assert (timewindow.iso(before.first), timewindow.iso(before.latest)) == first_last
    lk.ingest(str(later))
    after = timewindow.lake_span(lk)
    assert after.latest is not None
    assert timewindow.iso(after.latest) == _span(_events(later))[1]
    assert after.first == before.first
