"""``trailscope detect``: formats, exit codes for CI, listing, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope.cli import EXIT_ERROR, EXIT_OK, app
from trailscope.cli.detect import EXIT_FINDINGS
from trailscope.detect import load_rules, run_detections
from trailscope.exitcodes import ExitCode
from trailscope.facade import Lake

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
STRATUS = SAMPLES / "events" / "stratus-red-team-detonation-logs"
PICKED = (
    "aws.defense-evasion.cloudtrail-stop.json",  # high
    "aws.initial-access.console-login-without-mfa.json",  # medium
    "aws.execution.ssm-start-session.json",  # low
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("detect-cli")
    (root / "trail").mkdir()
    for name in PICKED:
        shutil.copy(STRATUS / name, root / "trail" / name)
    Lake(root / "lake").ingest(str(root / "trail"), workers=1)
    return root / "lake"


def _detect(*args: str):
    return runner.invoke(app, ["detect", *args])


def test_ndjson_is_the_python_api_report(lake: Path) -> None:
    result = _detect("--lake", str(lake), "--format", "ndjson")
    assert result.exit_code == EXIT_OK, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    expected = [f.to_json() for f in run_detections(lake).findings]
    assert lines == expected
    # the console sign-in without MFA is also an IAM user's password sign-in (info)
    assert [f["severity"] for f in lines] == ["high", "medium", "low", "info"]
    ids = {r["eventid"] for r in Lake(lake).query("SELECT eventid FROM cloudtrail").to_pylist()}
    assert all(set(f["event_ids"]) <= ids for f in lines)


def test_csv_and_json_carry_the_same_findings(lake: Path) -> None:
    as_json = json.loads(_detect("--lake", str(lake), "--format", "json").stdout)
    rows = list(csv.DictReader(io.StringIO(_detect("--lake", str(lake), "-F", "csv").stdout)))
    assert len(rows) == len(as_json) == 4
    for row, item in zip(rows, as_json, strict=True):
        assert row["rule_id"] == item["rule_id"]
        assert row["event_ids"].split(" ") == item["event_ids"]
        assert row["mitre"].split(" ") == item["mitre"]
        assert int(row["event_count"]) == item["event_count"]


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [(None, EXIT_OK), ("low", EXIT_FINDINGS), ("high", EXIT_FINDINGS), ("critical", EXIT_OK)],
)
def test_exit_code_says_whether_something_at_or_above_fail_on_was_found(
    lake: Path, fail_on: str | None, code: int
) -> None:
    args = ["--lake", str(lake)] + (["--fail-on", fail_on] if fail_on else [])
    result = _detect(*args)
    assert result.exit_code == code, result.output
    assert "cloudtrail-logging-disrupted" in result.stdout  # the table


def test_time_range_and_rule_selection(lake: Path) -> None:
    only = _detect("--lake", str(lake), "--rule", "ssm-session-started", "-F", "json")
    assert [f["rule_id"] for f in json.loads(only.stdout)] == ["ssm-session-started"]
    # the three detonations happened on 2024-07-31 .. 2024-08-02
    late = _detect("--lake", str(lake), "--since", "2030-01-01", "-F", "json", "--fail-on", "low")
    assert json.loads(late.stdout) == [] and late.exit_code == EXIT_OK


def test_list_shows_rules_and_unusable_files_with_reasons() -> None:
    result = _detect("--list", "--rules", str(SAMPLES / "sigma"), "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.stdout)
    ruleset = load_rules([SAMPLES / "sigma"])
    assert [r["id"] for r in data["rules"]] == [r.id for r in ruleset.rules]
    assert {(u["path"], u["reason"]) for u in data["unsupported"]} == set(ruleset.unsupported)
    assert {"root-console-login", "aws_cloudtrail_disable_logging"} <= {
        r["id"] for r in data["rules"]
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "severe"], "error: unknown severity 'severe'"),
        (["--rule", "no-such-rule"], "error: no rule with id 'no-such-rule'"),
        (["--param", "threshold=3"], "error: bad --param 'threshold=3'"),
        (["--engine", "nope"], "error: unknown engine 'nope'"),
        (["--engine", "athena"], "error: --database is required with --engine athena"),
        (
            ["--param", "root-console-login.x=1"],
            "error: rule 'root-console-login' has no parameter 'x'",
        ),
    ],
)
def test_errors_are_one_line(lake: Path, args: list[str], message: str) -> None:
    result = _detect("--lake", str(lake), *args)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines()[0] == message


def test_a_bad_format_is_a_usage_error_not_findings(lake: Path) -> None:
    result = _detect("--lake", str(lake), "--format", "xml")
    assert result.exit_code == ExitCode.USAGE
    assert "unknown --format 'xml': use one of table, csv, json, ndjson" in result.stderr


def test_missing_lake_is_an_error(tmp_path: Path) -> None:
    result = _detect("--lake", str(tmp_path / "nope"))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines()[0] == f"error: no lake at {tmp_path / 'nope'}"
