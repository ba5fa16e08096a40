"""The command line: exit codes, --json twins, one-line errors, and docs that match the commands."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from trailscope.cli import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINED, app
from trailscope.exitcodes import ExitCode

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _trail(root: Path, bad: bool = False) -> Path:
    day = root / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    day.mkdir(parents=True)
    ev = {
        "eventTime": "2024-07-01T10:00:00Z",
        "eventID": "e1",
        "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com",
        "recipientAccountId": "111122223333",
    }
    (day / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [ev]}).encode()))
    if bad:
        (day / "b.json.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    return root


def test_ingest_then_info_as_json(tmp_path: Path) -> None:
    src = _trail(tmp_path / "src")
    lake = tmp_path / "lake"
    result = runner.invoke(
        app, ["ingest", str(src), "--lake", str(lake), "--workers", "1", "--json"]
    )
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.stdout)
    assert summary["events_added"] == 1 and summary["read"] == 1
    info = runner.invoke(app, ["lake", "info", "--lake", str(lake), "--json"])
    assert info.exit_code == EXIT_OK
    data = json.loads(info.stdout)
    assert data["events"] == 1 and data["accounts"] == ["111122223333"]
    assert data["first_day"] == data["last_day"] == "2024-07-01"


def test_quarantine_sets_exit_code_3_and_is_listed(tmp_path: Path) -> None:
    src = _trail(tmp_path / "src", bad=True)
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["ingest", str(src), "-l", str(lake), "--workers", "1"])
    assert result.exit_code == EXIT_QUARANTINED
    assert "quarantined: 1 files and 0 events" in " ".join(result.stdout.split())
    info = runner.invoke(app, ["lake", "info", "--lake", str(lake)], env={"COLUMNS": "200"})
    assert "b.json.gz" in info.stdout and "damaged gzip" in info.stdout


def test_lake_from_environment_variable(tmp_path: Path) -> None:
    src = _trail(tmp_path / "src")
    env = {"TRAILSCOPE_LAKE": str(tmp_path / "envlake")}
    assert runner.invoke(app, ["ingest", str(src), "--workers", "1"], env=env).exit_code == 0
    assert (tmp_path / "envlake" / "events").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ingest", "/definitely/not/here", "--lake", "{tmp}/l"],
            "error: no such folder: /definitely/not/here\n"
            "hint: check the path; S3 locations are written s3://BUCKET/PREFIX\n",
        ),
        (
            ["lake", "info", "--lake", "{tmp}/none"],
            "error: no lake at {tmp}/none\n"
            "hint: create one with 'trailscope ingest SOURCE --lake PATH' or 'trailscope demo'\n",
        ),
    ],
)
def test_errors_are_one_clear_line_and_a_hint(tmp_path: Path, args: list[str], message: str):
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == message.format(tmp=tmp_path)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command", ["ingest {tmp}", "verify {tmp}", "run events-in-window", "detect"]
)
def test_an_unreadable_time_is_a_usage_error_with_the_forms_to_write(
    tmp_path: Path, command: str
) -> None:
    args = [*command.format(tmp=tmp_path).split(), "--lake", str(tmp_path / "l")]
    result = runner.invoke(app, [*args, "--since", "yesterday-ish"], env={"COLUMNS": "300"})
    assert result.exit_code == ExitCode.USAGE
    assert (
        "Invalid value for '--since': cannot read time 'yesterday-ish': use a date (2024-06-01), "
        "a time (2024-06-01T12:00:00Z), epoch seconds or milliseconds (1720051200), now, or an "
        "age (90s, 30m, 24h, 7d, 1h30m)"
    ) in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "l").exists()  # refused before anything was written


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    out: list[list[str]] = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            out.extend(_commands(command, (*prefix, name)))
        else:
            out.append([*prefix, name])
    return out


@pytest.mark.slow
def test_every_command_has_help_and_is_in_the_readme() -> None:
    """Walks the real command tree, so a new command without docs fails here."""
    readme = (ROOT / "README.md").read_text()
    commands = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
    assert ["ingest"] in commands and ["lake", "info"] in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert len(result.stdout) > 300, command
        assert f"trailscope {' '.join(command)}" in readme, f"README lacks {command}"


@pytest.fixture
def small_lake(tmp_path: Path) -> Path:
    src = _trail(tmp_path / "src")
    lake = tmp_path / "lake"
    assert (
        runner.invoke(app, ["ingest", str(src), "-l", str(lake), "--workers", "1"]).exit_code == 0
    )
    return lake


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT usernme FROM cloudtrail",
            'error: Binder Error: Referenced column "usernme" not found in FROM clause!\n'
            "hint: did you mean useridentity.username?\n",
        ),
        (
            "SELECT FROM WHERE",
            "error: cannot parse the SQL: Expected table name but got WHERE (line 1, column 17)\n",
        ),
        (
            "DROP TABLE cloudtrail",
            "error: only queries can run here, not DROP\n"
            "hint: the lake is read-only through SQL; use 'trailscope ingest' to add data\n",
        ),
    ],
)
def test_query_errors_point_at_the_problem(small_lake: Path, sql: str, message: str) -> None:
    result = runner.invoke(app, ["query", sql, "--lake", str(small_lake)])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == message


def test_query_runs_pasted_athena_sql_and_exports_csv(small_lake: Path) -> None:
    sql = (
        'SELECT eventname, recipientaccountid FROM "default"."cloudtrail_logs_mytrail" '
        "WHERE eventtime >= '2024-07-01T00:00:00Z'"
    )
    result = runner.invoke(app, ["query", sql, "--lake", str(small_lake), "--csv"])
    assert result.exit_code == 0, result.output
    # stdout_bytes: Click's .stdout turns CRLF into LF; RFC 4180 lines end in CRLF.
    assert (
        result.stdout_bytes
        == b'"eventname","recipientaccountid"\r\n"ListBuckets","111122223333"\r\n'
    )
    assert "note: table default.cloudtrail_logs_mytrail is read from the lake" in result.stderr


def test_query_on_an_empty_lake_returns_no_rows(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    lake = tmp_path / "lake"
    assert runner.invoke(app, ["ingest", str(tmp_path / "src"), "-l", str(lake)]).exit_code == 0
    result = runner.invoke(
        app, ["query", "SELECT eventname FROM cloudtrail", "-l", str(lake), "--json"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_run_saved_query_errors(small_lake: Path) -> None:
    result = runner.invoke(app, ["run", "events-in-windw", "-l", str(small_lake)])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        "error: no saved query named 'events-in-windw'\n"
        "hint: did you mean events-in-window? see 'trailscope queries list'\n"
    )
    result = runner.invoke(app, ["run", "events-in-window", "-p", "nope=1", "-l", str(small_lake)])
    assert result.stderr == (
        "error: query 'events-in-window' has no parameter 'nope'\n"
        "hint: its parameters: since, until, event_name\n"
    )
    result = runner.invoke(
        app, ["run", "events-in-window", "--since", "2024-07-01", "-l", str(small_lake), "--ndjson"]
    )
    assert result.exit_code == 0
    assert [json.loads(x)["eventid"] for x in result.stdout.splitlines()] == ["e1"]


def test_an_unclosed_quote_is_one_line_and_a_hint(small_lake: Path) -> None:
    sql = "SELECT * FROM cloudtrail WHERE useridentity.username = 'O'Brien'"
    result = runner.invoke(app, ["query", sql, "--lake", str(small_lake)])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        "error: cannot read the SQL: a string starts here and never ends (line 1, column 64)\n"
        "hint: close it with '; a quote inside a string is written twice ('O''Brien'), and SQL "
        "built by pasting values into its text breaks on such values: pass them as parameters\n"
    )


def test_columns_lists_the_schema_and_the_json_paths_of_the_lake(tmp_path: Path) -> None:
    """The hint of a mistyped column points here: every column a query can name, and the JSON
    paths the lake's events hold, from a sample of each event name."""
    day = tmp_path / "src/AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01"
    day.mkdir(parents=True)
    base = {"eventTime": "2024-07-01T10:00:00Z", "recipientAccountId": "111122223333"}
    records = [
        {
            **base,
            "eventID": f"g{i}",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "requestParameters": {"bucketName": "b", "key": f"k{i}"},
        }
        for i in range(120)
    ] + [
        {
            **base,
            "eventID": "r1",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1}]}},
            "responseElements": {"x-amz-id": "1", "ok": True},
            "additionalEventData": {"SignatureVersion": "SigV4"},
        },
    ]
    (day / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    lake = tmp_path / "lake"
    assert runner.invoke(app, ["ingest", str(tmp_path / "src"), "-l", str(lake)]).exit_code == 0

    result = runner.invoke(app, ["query", "--columns", "--lake", str(lake), "--json"])
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.stdout)
    columns = {c["name"]: c["type"] for c in data["columns"]}
    assert columns["useridentity.sessioncontext.attributes.mfaauthenticated"] == "string"
    assert columns["useridentity"] == "struct" and columns["eventtime_ts"] == "timestamp"
    assert columns["resources"] == "array<struct<arn:string,accountid:string,type:string>>"
    assert columns["date_partition"] == "string" and columns["event_date"] == "string"
    paths = {
        (p["column"], p["path"]): (p["types"], p["event_names"], p["events"])
        for p in data["json_paths"]
    }
    assert paths == {
        ("requestparameters", "$.bucketName"): (["string"], ["GetObject"], 120),
        ("requestparameters", "$.key"): (["string"], ["GetObject"], 120),
        ("requestparameters", "$.instancesSet.items[0].imageId"): (["string"], ["RunInstances"], 1),
        ("requestparameters", "$.instancesSet.items[0].minCount"): (
            ["number"],
            ["RunInstances"],
            1,
        ),
        ("responseelements", '$["x-amz-id"]'): (["string"], ["RunInstances"], 1),
        ("responseelements", "$.ok"): (["boolean"], ["RunInstances"], 1),
        ("additionaleventdata", "$.SignatureVersion"): (["string"], ["RunInstances"], 1),
    }
    assert data["sample_per_event_name"] == 50
    # each path as printed works in a query
    for (column, path), _ in paths.items():
        sql = f"SELECT count(json_extract({column}, '{path}')) AS n FROM cloudtrail"
        got = runner.invoke(app, ["query", sql, "-l", str(lake), "--json"])
        assert json.loads(got.stdout)[0]["n"] >= 1, (path, got.output)

    table = runner.invoke(app, ["query", "--columns", "-l", str(lake)], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert any(
        line.split() == ["requestparameters", "$.bucketName", "string", "120", "GetObject"]
        for line in table.stdout.splitlines()
    )
    wrong = runner.invoke(app, ["query", "SELECT 1", "--columns", "-l", str(lake)])
    assert wrong.exit_code == EXIT_ERROR
    assert wrong.stderr == (
        "error: --columns lists the columns and runs no query\n"
        "hint: drop the SQL, or drop --columns\n"
    )


def test_a_column_that_is_not_there_points_at_columns(small_lake: Path) -> None:
    result = runner.invoke(app, ["query", "SELECT zzzq FROM cloudtrail", "-l", str(small_lake)])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines()[-1] == "hint: see 'trailscope query --columns'"
    assert runner.invoke(app, ["query", "--columns", "-l", str(small_lake)]).exit_code == 0
