"""A trail that ends at a chosen moment (``end=`` a datetime, ``trailscope synth --end``).

Relative windows (``--since 24h``) count back from the wall clock, so a demo trail must end now;
the trail's stories must still happen at their usual times of day.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.exitcodes import ExitCode
from trailscope.synth import SynthReport, synth_trail

UTC = dt.UTC


def records(report: SynthReport) -> Iterator[dict[str, Any]]:
    for path in report.files:
        key = path.as_posix()
        if key.endswith(".json.gz") and "CloudTrail-Digest" not in key:
            yield from json.loads(gzip.decompress((report.root / path).read_bytes()))["Records"]


def event_time(record: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> SynthReport:
    end = dt.datetime(2024, 7, 17, 14, 37, 12, tzinfo=UTC)
    return synth_trail(tmp_path_factory.mktemp("anchored"), events=4000, days=2, end=end)


def test_events_fall_in_the_days_before_the_moment(anchored: SynthReport) -> None:
    last = dt.datetime(2024, 7, 17, 14, 35, tzinfo=UTC)  # to the five minutes
    times = [event_time(r) for r in records(anchored)]
    assert len({t for t in times}) > 1000
    assert min(times) >= last - dt.timedelta(days=2)
    assert max(times) < last
    assert max(times) > last - dt.timedelta(hours=1)  # busy to the end
    assert anchored.days == [dt.date(2024, 7, 15), dt.date(2024, 7, 16), dt.date(2024, 7, 17)]


def test_stories_keep_their_time_of_day(anchored: SynthReport) -> None:
    by_name: dict[str, list[dt.datetime]] = {}
    for record in records(anchored):
        by_name.setdefault(record.get("eventName", ""), []).append(event_time(record))
    incident_hours = {
        "StopLogging": {21},  # late evening
        "AssumeRoleWithSAML": {8, 9},  # the morning sign-ins (plus the generic mix's)
    }
    for name, hours in incident_hours.items():
        assert hours & {t.hour for t in by_name[name]}, name
    logins = {i.name: i.event_ids for i in anchored.incidents}
    root_login = [
        r for r in records(anchored) if r["eventID"] in logins["root-console-login-without-mfa"]
    ]
    assert [event_time(r).hour for r in root_login] == [3]  # at night
    # The morning sign-ins of the first (partial) day move to the last one, before the end.
    saml_days = {t.date() for t in by_name["AssumeRoleWithSAML"] if t.hour in (8, 9)}
    assert dt.date(2024, 7, 17) in saml_days


def test_a_naive_moment_is_utc(tmp_path: Path) -> None:
    naive = synth_trail(tmp_path / "naive", events=300, days=1, end=dt.datetime(2024, 3, 1, 6))
    aware = synth_trail(
        tmp_path / "aware", events=300, days=1, end=dt.datetime(2024, 3, 1, 6, tzinfo=UTC)
    )
    assert [r["eventID"] for r in records(naive)] == [r["eventID"] for r in records(aware)]


def test_a_trail_can_end_now(tmp_path: Path) -> None:
    before = dt.datetime.now(UTC)
    report = synth_trail(tmp_path, events=500, days=1, end=before, digests=False)
    times = [event_time(r) for r in records(report)]
    assert max(times) <= before
    assert min(times) >= before - dt.timedelta(days=1, minutes=5)
    assert report.days[-1] == before.date()


def _cli_report(tmp_path: Path, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(
        app, ["synth", str(tmp_path), "--events", "300", "--days", "1", "--json", *args]
    )
    return result.exit_code, (json.loads(result.stdout) if result.exit_code == 0 else result.output)


@pytest.mark.parametrize(
    ("end", "days"),
    [
        ("2024-01-05", ["2024-01-05"]),  # a day: that whole day
        ("2024-01-05T12:00Z", ["2024-01-04", "2024-01-05"]),  # a moment: the day before it
        ("2024-01-05T12:00:00+02:00", ["2024-01-04", "2024-01-05"]),  # 10:00 UTC
    ],
)
def test_cli_end_takes_days_and_moments(tmp_path: Path, end: str, days: list[str]) -> None:
    code, report = _cli_report(tmp_path, "--end", end)
    assert code == ExitCode.OK
    assert report["days"] == days


def test_cli_end_now(tmp_path: Path) -> None:
    code, report = _cli_report(tmp_path, "--end", "now")
    assert code == ExitCode.OK
    assert report["days"][-1] == dt.datetime.now(UTC).date().isoformat()
    [root_login] = [i for i in report["incidents"] if i["name"] == "root-console-login-without-mfa"]
    assert root_login["rule_id"] == "root-console-login"
    when = dt.datetime.fromisoformat(root_login["time"])  # ISO 8601, in UTC
    assert when.utcoffset() == dt.timedelta(0) and when <= dt.datetime.now(UTC)


@pytest.mark.parametrize("end", ["yesterday", "2024-13-01", "2024-01-05T25:00Z"])
def test_cli_refuses_an_unreadable_end_and_writes_nothing(tmp_path: Path, end: str) -> None:
    code, output = _cli_report(tmp_path / "trail", "--end", end)
    assert code != ExitCode.OK
    assert "cannot read" in output and repr(end) in output
    assert not (tmp_path / "trail").exists()
