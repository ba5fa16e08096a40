"""CLI conventions, as a user types them: one --format, exit codes that mean one thing each,
AWS options named per place, whole ids in tables, Excel CSV, SQL from stdin, completion,
progress that says what it does, and pasted Athena DDL explained.

References: Athena DDLs from the AWS documentation (shared samples and the multi-account
partition-projection DDL of the AWS guide), values read from the trail files directly.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from rich.progress import Progress
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.cli.base import ingest_ticker
from trailscope.exitcodes import DESCRIPTIONS, ExitCode
from trailscope.sql import suggest_column

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
DDL_PP = (
    SAMPLES / "athena-queries" / "awsdocs-athena-ddl-cloudtrail_logs_pp-partition-projection.sql"
)

#: The multi-account (organization) partition-projection DDL of the AWS Athena guide, columns
#: abridged: partitions account, region and date (yyyy/MM/dd) over AWSLogs/${account}/...
ORG_DDL = """
CREATE EXTERNAL TABLE cloudtrail_logs_pp (
    eventversion STRING,
    useridentity STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING>,
    eventtime STRING,
    eventsource STRING,
    eventname STRING,
    recipientaccountid STRING
)
PARTITIONED BY (
   `account` string,
   `region` string,
   `date` string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://amzn-s3-demo-bucket/AWSLogs/o-abc123defg/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.date.type'='date',
  'projection.date.range'='2024/01/01,NOW',
  'projection.date.format'='yyyy/MM/dd',
  'projection.date.interval'='1',
  'projection.date.interval.unit'='DAYS',
  'projection.region.values'='us-east-1,us-west-2',
  'projection.region.type'='enum',
  'projection.account.type'='enum',
  'projection.account.values'='111122223333,444455556666',
  'storage.location.template'='s3://amzn-s3-demo-bucket/AWSLogs/o-abc123defg/${account}/CloudTrail/${region}/${date}'
)
"""


def _events(trail: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in trail.rglob("*.json.gz"):
        if "CloudTrail-Digest" not in str(path):
            out.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return list({e["eventID"]: e for e in out}.values())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("conventions")
    trail, lake = root / "trail", root / "lake"
    assert (
        runner.invoke(app, ["synth", str(trail), "--events", "2000", "--days", "2"]).exit_code == 0
    )
    done = runner.invoke(app, ["ingest", str(trail), "--lake", str(lake), "--workers", "1"])
    assert done.exit_code == 0, done.output
    return trail, lake, _events(trail)


def _q(lake: Path, *args: str, **kw: Any) -> Any:
    return runner.invoke(app, ["query", *args, "--lake", str(lake)], **kw)


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "args",
    [
        ["query", "--bogus"],
        ["detect", "--sinse", "7d"],
        ["run"],
        ["lake", "nothing-like-this"],
        ["nothing-like-this"],
        ["query", "SELECT 1", "--format", "xml"],
        ["query", "SELECT 1", "--csv", "--json"],
        ["ingest", ".", "--region", "us-east-1"],
        ["detect", "--csv", "--format", "json"],
    ],
)
def test_usage_errors_exit_64_never_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.USAGE == 64, result.output
    assert "Traceback" not in result.output


def test_exit_codes_are_distinct_and_in_one_table_in_help_and_docs() -> None:
    codes = [int(c) for c in ExitCode]
    assert len(set(codes)) == len(codes) and set(DESCRIPTIONS) == set(ExitCode)
    shown = " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout.split())
    docs = (ROOT / "docs" / "queries.md").read_text()
    for code, text in DESCRIPTIONS.items():
        assert f"{int(code)}: {text}" in shown
        assert f"| {int(code)} | {text} |" in docs


# --------------------------------------------------------------------------- --format


def test_one_format_option_and_its_shortcuts_agree(demo, tmp_path: Path) -> None:
    _, lake, events = demo
    sql = "SELECT eventid, eventname FROM cloudtrail ORDER BY eventid"
    by_format = _q(lake, sql, "--format", "json")
    by_flag = _q(lake, sql, "--json")
    assert by_format.exit_code == by_flag.exit_code == 0
    assert by_format.stdout == by_flag.stdout
    assert [r["eventid"] for r in json.loads(by_format.stdout)] == sorted(
        e["eventID"] for e in events
    )
    nd = _q(lake, sql, "-F", "ndjson")
    assert [json.loads(x)["eventid"] for x in nd.stdout.splitlines()] == sorted(
        e["eventID"] for e in events
    )
    assert _q(lake, sql, "--format", "csv", "--csv").exit_code == 0  # the same ask twice is fine
    target = tmp_path / "out.parquet"
    written = _q(lake, sql, "--format", "parquet", "-o", str(target))
    assert written.exit_code == 0, written.output
    assert pq.read_table(target).column("eventid").to_pylist() == sorted(
        e["eventID"] for e in events
    )


def test_conflicting_output_flags_say_which(demo) -> None:
    result = _q(demo[1], "SELECT 1", "--csv", "--format", "json")
    assert result.exit_code == ExitCode.USAGE
    assert "conflicting output options: --csv and --format json (give one)" in result.output


@pytest.mark.slow
def test_parquet_to_a_pipe(demo, tmp_path: Path) -> None:
    lake = demo[1]
    args = ["query", "SELECT count(*) AS n FROM cloudtrail", "--lake", str(lake), "-F", "parquet"]
    proc = subprocess.run(
        [sys.executable, "-m", "trailscope", *args],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "piped.parquet").write_bytes(proc.stdout)
    assert pq.read_table(tmp_path / "piped.parquet").column("n").to_pylist() == [len(demo[2])]


def test_excel_csv_has_a_bom_and_inert_formulas(demo) -> None:
    sql = (
        "SELECT 'ログイン失敗' AS what, '=HYPERLINK(\"http://x\")' AS f, eventid "
        "FROM cloudtrail LIMIT 1"
    )
    result = runner.invoke(app, ["query", sql, "--lake", str(demo[1]), "--excel"])
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["what", "f", "eventid"]
    assert rows[1][0] == "ログイン失敗" and rows[1][1] == '\'=HYPERLINK("http://x")'
    plain = runner.invoke(app, ["query", sql, "--lake", str(demo[1]), "--csv"])
    assert not plain.stdout_bytes.startswith(b"\xef\xbb\xbf")


# --------------------------------------------------------------------------- stdin, tables


@pytest.mark.slow
def test_sql_from_stdin_with_a_dash_and_from_a_pipe(demo) -> None:
    lake = demo[1]
    sql = "SELECT count(*) AS n FROM cloudtrail"
    dash = runner.invoke(app, ["query", "-", "--lake", str(lake), "--json"], input=sql)
    assert dash.exit_code == 0, dash.output
    assert json.loads(dash.stdout) == [{"n": len(demo[2])}]
    proc = subprocess.run(
        [sys.executable, "-m", "trailscope", "query", "--lake", str(lake), "--json"],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": len(demo[2])}]
    empty = runner.invoke(app, ["query", "-", "--lake", str(lake)], input="")
    assert empty.exit_code == ExitCode.USAGE


def test_terminal_tables_keep_ids_arns_and_times_whole(demo) -> None:
    lake, events = demo[1], demo[2]
    sql = (
        "SELECT eventtime, useragent, requestparameters, eventname, eventid "
        "FROM cloudtrail ORDER BY eventid LIMIT 5"
    )
    result = runner.invoke(app, ["query", sql, "--lake", str(lake)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    first = sorted(events, key=lambda e: e["eventID"])[:5]
    for e in first:  # the id and the time of each row whole, on one line
        assert any(e["eventID"] in line and e["eventTime"] in line for line in lines), e
    note = " ".join(result.stderr.split())
    assert "not shown to keep ids, ARNs and times whole: requestparameters" in note


def test_a_value_wider_than_the_terminal_folds_instead_of_being_cut(demo) -> None:
    arn = "arn:aws:iam::111122223333:role/" + "x" * 120
    sql = f"SELECT eventid, '{arn}' AS arn FROM cloudtrail LIMIT 1"
    result = runner.invoke(app, ["query", sql, "--lake", str(demo[1])], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    cells = "".join(
        part.strip()
        for line in result.stdout.splitlines()
        for part in line.split("│")[2:3]  # the second column's cell on each line
    )
    assert arn in cells


# --------------------------------------------------------------------------- completion


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_TRAILSCOPE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("trailscope"))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.split()


@pytest.mark.slow
def test_shell_completion_of_names_and_values() -> None:
    library = sorted(p.stem for p in (ROOT / "trailscope/queries/library").glob("failed-*.sql"))
    assert _complete("trailscope run failed-") == library and library
    assert _complete("trailscope run events-in-window --param ev") == ["event_name="]
    assert "root-console-login" in _complete("trailscope detect --rule root-con")
    assert _complete("trailscope query --format nd") == ["ndjson"]
    assert _complete("trailscope query --engine at") == ["athena"]
    assert _complete("trailscope detect --fail-on hi") == ["high"]
    assert _complete("trailscope query --tz Asia/Tok") == ["Asia/Tokyo"]


# --------------------------------------------------------------------------- progress


def test_ingest_progress_says_listing_then_files_and_events() -> None:
    with Progress(disable=True) as prog:
        tick = ingest_ticker(prog, "s3://bucket/AWSLogs/")
        task = prog.tasks[0]
        assert task.description == "listing s3://bucket/AWSLogs/" and task.total is None
        tick(3, 10, 1500)
        assert task.description == "ingesting" and task.total == 10
        assert task.fields["detail"] == "3/10 files  1,500 events"


# --------------------------------------------------------------------------- AWS options


def test_region_filter_and_aws_options_are_named_apart(demo) -> None:
    shown = " ".join(
        runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}).stdout.split()
    )
    for name in ("--source-profile", "--lake-profile", "--source-endpoint-url", "--only-region"):
        assert name in shown
    result = runner.invoke(app, ["ingest", str(demo[0]), "--lake", "x", "--region", "us-east-1"])
    assert result.exit_code == ExitCode.USAGE
    assert "-r/--only-region us-east-1" in " ".join(result.output.split())


def test_source_and_lake_profiles_are_separate(tmp_path: Path, s3_bucket, s3_client) -> None:
    endpoint, bucket = s3_bucket
    lake_bucket = bucket + "-lake"
    s3_client.create_bucket(Bucket=lake_bucket)
    day = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/07/01/"
    event = {
        "eventTime": "2024-07-01T10:00:00Z",
        "eventID": "e-1",
        "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com",
        "recipientAccountId": "111122223333",
    }
    s3_client.put_object(
        Bucket=bucket,
        Key=day + "a.json.gz",
        Body=gzip.compress(json.dumps({"Records": [event]}).encode()),
    )
    config = Path(os.environ["AWS_CONFIG_FILE"])
    config.write_text(
        "[profile audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "region = us-east-1\n"
    )
    base = ["ingest", f"s3://{bucket}/AWSLogs/", "--lake", f"s3://{lake_bucket}/ts/"]
    base += ["--source-endpoint-url", endpoint, "--lake-endpoint-url", endpoint, "--workers", "1"]
    wrong = runner.invoke(app, [*base, "--source-profile", "audit", "--lake-profile", "nope"])
    assert wrong.exit_code == ExitCode.ERROR
    assert "as a lake: The config profile (nope) could not be found" in wrong.stderr
    right = runner.invoke(app, [*base, "--profile", "audit", "--lake-profile", "audit", "--json"])
    assert right.exit_code == 0, right.output
    assert json.loads(right.stdout)["events_added"] == 1
    # query's --profile is used for the s3:// lake it reads (as the AWS CLI applies it)
    ask = ["query", "SELECT eventid FROM cloudtrail", "--lake", f"s3://{lake_bucket}/ts/", "--json"]
    env = {"AWS_ENDPOINT_URL_S3": endpoint}
    refused = runner.invoke(app, [*ask, "--profile", "nope"], env=env)
    assert refused.exit_code == ExitCode.ERROR
    assert "AWS profile not found: nope" in refused.stderr
    answered = runner.invoke(app, [*ask, "--profile", "audit"], env=env)
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout) == [{"eventid": "e-1"}]


# --------------------------------------------------------------------------- Athena DDL


def test_pasted_athena_ddl_is_explained_with_the_ingest_command(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["query", "-f", str(DDL_PP), "--lake", str(tmp_path / "lake")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "table cloudtrail_logs_pp" in text
    assert "timestamp timestamp = event_date, as yyyy/MM/dd" in text
    assert "useridentity useridentity" in text and "tlsdetails tlsdetails" in text
    assert f"trailscope ingest s3://bucket/AWSLogs/ --lake {tmp_path / 'lake'}" in text
    assert "sqlglot" not in result.stderr.lower() and "warning" not in result.stderr.lower()


def test_multi_account_ddl_partitions_map_to_the_trails_account(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["query", "-", "--lake", "./lake"], input=ORG_DDL, env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "account account = recipientaccountid" in text
    assert "date date = event_date, as yyyy/MM/dd" in text
    assert "region region = awsregion" in text
    assert "trailscope ingest s3://amzn-s3-demo-bucket/AWSLogs/o-abc123defg/ --lake ./lake" in text
    assert "warning" not in result.stderr.lower()


def test_account_and_date_partition_columns_answer_like_athena(demo) -> None:
    lake, events = demo[1], demo[2]
    day = sorted({e["eventTime"][:10] for e in events})[-1]
    sql = (
        "SELECT account, date, count(*) AS n FROM cloudtrail_logs_pp "
        f"WHERE date = '{day.replace('-', '/')}' GROUP BY 1, 2 ORDER BY 1"
    )
    result = _q(lake, sql, "--json")
    assert result.exit_code == 0, result.output
    expected = Counter(e["recipientAccountId"] for e in events if e["eventTime"][:10] == day)
    got = {r["account"]: r["n"] for r in json.loads(result.stdout)}
    assert got == dict(expected)
    assert {r["date"] for r in json.loads(result.stdout)} == {day.replace("-", "/")}


def test_did_you_mean_never_maps_account_to_the_callers_account() -> None:
    for typed in ("account", "Account", "accounts", "acount"):
        assert suggest_column(typed) != "useridentity.accountid"
    assert suggest_column("acount") == "account"


def test_a_mistyped_account_column_suggests_the_trails_account(demo) -> None:
    result = _q(demo[1], "SELECT acount FROM cloudtrail")
    assert result.exit_code == ExitCode.ERROR
    assert re.search(r"did you mean account\?", result.stderr)


def test_the_api_reads_the_multi_account_partition_columns(demo) -> None:
    from trailscope.facade import Lake

    lake, events = demo[1], demo[2]
    first_day = sorted({e["eventTime"][:10] for e in events})[0]
    with Lake(lake) as lk:
        table = lk.query(
            "SELECT account, count(*) AS n FROM cloudtrail_logs_pp WHERE date > :day GROUP BY 1",
            params={"day": first_day.replace("-", "/")},
        )
    expected = Counter(e["recipientAccountId"] for e in events if e["eventTime"][:10] > first_day)
    assert dict(zip(*table.to_pydict().values(), strict=True)) == dict(expected)


def test_wide_characters_are_measured_as_the_terminal_shows_them(demo) -> None:
    from rich.cells import cell_len

    what = "ログイン失敗" * 2 + "監査"  # 14 characters, 28 terminal cells
    sql = f"SELECT eventid, '{what}' AS what FROM cloudtrail LIMIT 2"
    result = runner.invoke(app, ["query", sql, "--lake", str(demo[1])], env={"COLUMNS": "70"})
    assert result.exit_code == 0, result.output
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 70
    assert what in result.stdout  # whole, on one line: nothing cut


@pytest.mark.slow
def test_detect_table_keeps_rule_ids_whole_and_names_what_it_drops(demo) -> None:
    from trailscope.detect import run_detections
    from trailscope.facade import open_lake

    report = run_detections(open_lake(demo[1]))
    assert report.findings
    result = runner.invoke(app, ["detect", "--lake", str(demo[1])], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    for finding in report.findings:
        assert any(finding.rule_id in line for line in lines), finding.rule_id
    assert "not shown to keep ids, ARNs and times whole: target" in " ".join(result.stderr.split())
