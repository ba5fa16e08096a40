"""Findings that remember: stable ids over overlapping runs, ``detect --new``, statuses and
suppressions, on a real lake of a synthetic trail with planted incidents."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trailscope import Lake
from trailscope.cli import EXIT_ERROR, EXIT_OK, app
from trailscope.detect import run_detections
from trailscope.detect.loader import builtin_rules
from trailscope.detect.model import DetectionReport
from trailscope.exitcodes import ExitCode
from trailscope.findings import record_findings
from trailscope.findings.ids import group_key
from trailscope.findings.manage import list_findings, set_status, suppress, unsuppress
from trailscope.synth import synth_trail

runner = CliRunner()
NOW = datetime(2024, 7, 18, tzinfo=UTC)
#: the trail covers 2024-07-11 .. 2024-07-17; two daily-style runs that overlap by a day
FIRST = ("2024-07-11", "2024-07-14")
SECOND = ("2024-07-14", "2024-07-17")


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("findings")
    report = synth_trail(root / "trail", events=6000, seed=5, digests=False, insights=False)
    Lake(root / "base").ingest(str(root / "trail"), workers=1)
    return root, report


@pytest.fixture
def lake(trail: tuple[Path, Any], tmp_path: Path) -> Lake:
    """A fresh copy of the ingested lake (findings recorded in one test stay there)."""
    shutil.copytree(trail[0] / "base", tmp_path / "lake")
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="module")
def detected(trail: tuple[Path, Any]) -> Callable[[str, str], DetectionReport]:
    """``detected(since, until)``: the detections over the base lake, each window run once.

    A test's lake is a copy of the base lake, so before it records anything a run over it finds
    the same; every call returns a fresh copy, which the test may change as it likes."""
    base = Lake(trail[0] / "base")
    runs: dict[tuple[str, str], DetectionReport] = {}

    def run(since: str, until: str) -> DetectionReport:
        if (since, until) not in runs:
            runs[since, until] = run_detections(base, since=since, until=until)
        return copy.deepcopy(runs[since, until])

    return run


def _filter_rules() -> set[str]:
    return {r.id for r in builtin_rules() if r.condition is not None}


@pytest.mark.slow
def test_two_overlapping_runs_give_the_same_ids(
    lake: Lake, detected: Callable[[str, str], DetectionReport]
) -> None:
    first = detected(*FIRST)
    second = detected(*SECOND)
    a = record_findings(lake, first, now=NOW)
    b = record_findings(lake, second, now=NOW)
    # the same run again changes nothing and gives the same ids
    again = record_findings(lake, second, now=NOW)
    assert again.ids == b.ids
    assert again.cycle.opened == again.cycle.updated == 0
    stored = list_findings(lake)
    assert len({r["finding_id"] for r in stored}) == len(stored)
    # activity both runs saw (a shared event) is one finding, updated, not a new one
    by_event = {}
    for finding, fid in zip(first.findings, a.ids, strict=True):
        for event in finding.event_ids:
            by_event[(finding.rule_id, event)] = fid
    shared = 0
    for finding, fid, outcome in zip(second.findings, b.ids, b.outcomes, strict=True):
        earlier = {by_event.get((finding.rule_id, e)) for e in finding.event_ids} - {None}
        if earlier:
            shared += 1
            assert earlier == {fid}
            assert outcome in ("updated", "same")
    assert shared >= 5  # the overlap day holds real activity for the test to mean something
    assert b.cycle.opened == len(set(b.ids) - set(a.ids))
    # against one run over everything: each filter rule's group is one stored finding with
    # the same events as that run found for it
    whole = run_detections(lake, since=FIRST[0], until=SECOND[1])
    filters = _filter_rules()
    expected = {
        (f.rule_id, group_key(f)): sorted(f.event_ids)
        for f in whole.findings
        if f.rule_id in filters
    }
    got: dict[tuple[str, str], list[str]] = {}
    for row in stored:
        if row["rule_id"] in filters:
            key = (row["rule_id"], row["group_key"])
            assert key not in got, f"two stored findings for {key}"
            got[key] = sorted(row["event_ids"])
    assert got == expected


def test_stored_findings_are_queryable_beside_cloudtrail(
    lake: Lake, detected: Callable[[str, str], DetectionReport]
) -> None:
    report = detected(*FIRST)
    record_findings(lake, report, now=NOW)
    rows = lake.query(
        "SELECT f.rule_id, count(*) AS n FROM findings f "
        "JOIN cloudtrail c ON contains(f.event_ids, c.eventid) "
        "WHERE f.status = 'open' GROUP BY f.rule_id"
    ).to_pylist()
    events = {r["rule_id"]: r["n"] for r in rows}
    for finding in report.findings:
        assert events[finding.rule_id] >= len(finding.event_ids)


def _detect_new(lake: Lake, since: str, until: str) -> list[dict[str, Any]]:
    result = runner.invoke(
        app,
        [
            "detect",
            "--lake",
            str(lake.root),
            "--since",
            since,
            "--until",
            until,
            "--new",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == EXIT_OK, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_detect_new_prints_only_what_is_new(lake: Lake, trail: tuple[Path, Any]) -> None:
    incidents = {i.rule_id: i for i in trail[1].incidents}
    plain = runner.invoke(app, ["detect", "--lake", str(lake.root), "--format", "json"])
    assert plain.exit_code == EXIT_OK
    assert lake.read_table("findings") is None  # plain detect records nothing
    first = _detect_new(lake, *FIRST)
    assert {f["rule_id"] for f in first} >= {"root-console-login"}
    second = _detect_new(lake, *SECOND)
    # the whole second run, minus what the first one saw (by shared events)
    whole_second = run_detections(lake, since=SECOND[0], until=SECOND[1]).findings
    seen_events = {(f["rule_id"], e) for f in first for e in f["event_ids"]}
    printed = {(f["rule_id"], tuple(f["event_ids"])) for f in second}
    for f in whole_second:
        old = any((f.rule_id, e) in seen_events for e in f.event_ids)
        if old:
            assert (f.rule_id, tuple(f.event_ids)) not in printed
    rules = [f["rule_id"] for f in second]
    # the incident of the last day is new; the root sign-in of the middle day was seen
    assert incidents["cloudtrail-logging-disrupted"].rule_id in rules
    assert "root-console-login" not in rules
    assert _detect_new(lake, *SECOND) == []  # nothing new the third time


def test_findings_cli_lists_shows_acks_and_names_unknown_ids(
    lake: Lake, detected: Callable[[str, str], DetectionReport]
) -> None:
    report = detected(*FIRST)
    rec = record_findings(lake, report, now=NOW)
    fid = rec.ids[0]
    base = ["--lake", str(lake.root)]
    listed = runner.invoke(app, ["findings", *base, "--status", "open", "--format", "json"])
    assert listed.exit_code == EXIT_OK, listed.output
    assert {r["finding_id"] for r in json.loads(listed.stdout)} == set(rec.ids)
    acked = runner.invoke(app, ["findings", "ack", fid[:8], *base, "--note", "rotation pipeline"])
    assert acked.exit_code == EXIT_OK, acked.output
    shown = json.loads(runner.invoke(app, ["findings", "show", fid, *base, "--json"]).stdout)
    assert (shown["status"], shown["note"]) == ("acknowledged", "rotation pipeline")
    unknown = runner.invoke(app, ["findings", "ack", "0123456789abcdef", *base])
    assert unknown.exit_code == EXIT_ERROR
    assert "no finding with id '0123456789abcdef'" in unknown.stderr
    bad = runner.invoke(app, ["findings", *base, "--status", "shut"])
    assert bad.exit_code == ExitCode.USAGE and "unknown status 'shut'" in bad.stderr
    csv_out = runner.invoke(app, ["findings", *base, "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("finding_id,status,severity")
    assert len(csv_out.splitlines()) == len(set(rec.ids)) + 1


def test_suppression_is_data_and_visible(
    lake: Lake, detected: Callable[[str, str], DetectionReport]
) -> None:
    report = detected(FIRST[0], SECOND[1])
    rule = "access-key-created-for-another-user"
    assert any(f.rule_id == rule for f in report.findings)
    base = ["--lake", str(lake.root)]
    added = runner.invoke(
        app, ["findings", "suppress", *base, "--rule", rule, "--for", "30d", "--note", "CI keys"]
    )
    assert added.exit_code == EXIT_OK, added.output
    sid = added.stdout.strip()
    rec = record_findings(lake, report, now=datetime.now(UTC))
    rows = {r["finding_id"]: r for r in list_findings(lake)}
    for finding, fid in zip(report.findings, rec.ids, strict=True):
        expected = "suppressed" if finding.rule_id == rule else "open"
        assert rows[fid]["status"] == expected
        if finding.rule_id == rule:
            assert rows[fid]["suppression_id"] == sid
    listed = runner.invoke(app, ["findings", *base, "--status", "suppressed", "--format", "json"])
    assert {r["rule_id"] for r in json.loads(listed.stdout)} == {rule}
    sup = json.loads(runner.invoke(app, ["findings", "suppressions", *base, "-F", "json"]).stdout)
    assert [(s["suppression_id"], s["note"]) for s in sup] == [(sid, "CI keys")]
    # the suppressions table is queryable like the others
    assert lake.query("SELECT count(*) AS n FROM suppressions").to_pylist() == [{"n": 1}]
    gone = runner.invoke(app, ["findings", "unsuppress", sid, *base])
    assert gone.exit_code == EXIT_OK, gone.output
    assert {r["status"] for r in list_findings(lake)} == {"open"}
    again = runner.invoke(app, ["findings", "unsuppress", sid, *base])
    assert (
        again.exit_code == EXIT_ERROR and f"no active suppression with id '{sid}'" in again.stderr
    )


def test_suppress_needs_criteria_and_a_readable_duration(lake: Lake) -> None:
    base = ["--lake", str(lake.root)]
    none = runner.invoke(app, ["findings", "suppress", *base, "--note", "x"])
    assert none.exit_code == ExitCode.USAGE
    assert "a suppression needs at least one of" in none.stderr
    bad = runner.invoke(app, ["findings", "suppress", *base, "--rule", "r", "--for", "soon"])
    assert bad.exit_code == ExitCode.USAGE and "cannot read duration 'soon'" in bad.stderr
    net = runner.invoke(app, ["findings", "suppress", *base, "--source-ip", "10.0.0.300/8"])
    assert net.exit_code == EXIT_ERROR and "not an IP address or network" in net.stderr
    assert lake.read_table("suppressions") is None  # nothing was written


def test_suppressions_by_principal_glob_and_network_expire(
    lake: Lake, detected: Callable[[str, str], DetectionReport]
) -> None:
    report = detected(FIRST[0], SECOND[1])
    record_findings(lake, report, now=NOW)
    rows = list_findings(lake)
    target = next(r for r in rows if r["source_ip"] and r["source_ip"][0].isdigit())
    network = target["source_ip"].rsplit(".", 1)[0] + ".0/24"
    start = datetime.now(UTC)
    suppression, count = suppress(
        lake, source_ip=network, duration=timedelta(hours=1), note="scanner", now=start
    )
    covered = [r for r in rows if r["source_ip"] and r["source_ip"].startswith(network[:-4])]
    assert count == len(covered) >= 1
    # after it expired, the same activity seen again opens the finding again
    later = start + timedelta(hours=2)
    record_findings(lake, report, now=later)
    by_id = {r["finding_id"]: r for r in list_findings(lake)}
    assert by_id[target["finding_id"]]["status"] == "suppressed"  # unchanged: not touched
    set_status(lake, target["finding_id"], "closed", note="done")
    assert {r["finding_id"]: r for r in list_findings(lake)}[target["finding_id"]]["status"] == (
        "closed"
    )
    _, reopened = unsuppress(lake, suppression["suppression_id"], now=later)
    assert reopened == count - 1  # the closed one stays closed


def test_log_text_is_inert_in_csv_and_on_the_terminal(lake: Lake) -> None:
    from trailscope.detect.model import Finding, Severity

    hostile = '=HYPERLINK("http://evil.example")\x1b[2J\x1b[31m[bold]x[/bold]'
    finding = Finding(
        rule_id="root-console-login",
        title="Root user signed in to the console",
        severity=Severity.HIGH,
        mitre=(),
        first_seen="2024-07-12T01:00:00Z",
        last_seen="2024-07-12T01:00:00Z",
        principal=hostile,
        source_ip="-1+1",
        account="111122223333",
        region="us-east-1",
        event_count=1,
        event_ids=["hostile"],
    )
    [fid] = record_findings(lake, DetectionReport(findings=[finding]), now=NOW).ids
    base = ["--lake", str(lake.root)]
    rows = runner.invoke(app, ["findings", *base, "--format", "csv"]).stdout.splitlines()
    import csv

    [row] = list(csv.DictReader(rows))
    assert row["principal"] == "'" + hostile
    assert row["source_ip"] == "'-1+1"
    shown = runner.invoke(app, ["findings", "show", fid, *base], env={"COLUMNS": "200"}).stdout
    assert "\x1b" not in shown
    assert "\\x1b[2J\\x1b[31m[bold]x[/bold]" in shown
