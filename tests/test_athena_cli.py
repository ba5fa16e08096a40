"""``trailscope athena ...`` and ``--engine athena`` / ``--estimate`` from the command line.

Athena itself cannot run here; moto's server (the same one the S3 tests use, on loopback)
answers the Athena API over real HTTP and records every query execution, so the tests read back
exactly what the CLI sent: statements, database, workgroup, result location, parameters.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from trailscope import Lake
from trailscope.athena.ddl import create_database_ddl, create_table_ddl
from trailscope.athena.estimate import estimate_scan
from trailscope.cli import app
from trailscope.queries import load_library
from trailscope.synth import synth_trail

LOCATION = "s3://analytics-bucket/trailscope/"
RESULTS = "s3://athena-results/trailscope/"
runner = CliRunner()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("athena-cli")
    synth_trail(root / "trail", events=3000, seed=3, days=3)
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    return lk


@pytest.fixture
def athena(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 Athena client on the moto server; the CLI's clients go there too."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", s3_server)
    return boto3.client("athena", region_name="us-east-1", endpoint_url=s3_server)


def _executions(client: Any) -> list[dict[str, Any]]:
    ids = client.list_query_executions()["QueryExecutionIds"]
    runs = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return sorted(runs, key=lambda e: e["Status"]["SubmissionDateTime"])


def test_athena_setup_sends_the_ddl_and_writes_the_manifests(lake: Lake, athena: Any) -> None:
    if "analysts" not in [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]:
        athena.create_work_group(Name="analysts")
    before = {e["QueryExecutionId"] for e in _executions(athena)}
    args = ["athena", "setup", "--lake", str(lake.root), "--location", LOCATION]
    result = runner.invoke(
        app, [*args, "-d", "security", "--workgroup", "analysts", "--output-location", RESULTS]
    )
    assert result.exit_code == 0, result.output
    sent = [e for e in _executions(athena) if e["QueryExecutionId"] not in before]
    days = sorted(p.name.split("=")[1] for p in (lake.root / "events").iterdir())
    assert [e["Query"] for e in sent] == [
        create_database_ddl("security"),
        create_table_ddl(LOCATION, database="security", first_day=days[0]),
    ]
    assert [e["QueryExecutionContext"]["Database"] for e in sent] == ["default", "security"]
    assert {e["WorkGroup"] for e in sent} == {"analysts"}
    assert all(e["ResultConfiguration"]["OutputLocation"].startswith(RESULTS) for e in sent)
    for day in days:
        manifest = lake.root / "athena" / f"event_date={day}" / "symlink.txt"
        files = sorted((lake.root / "events" / f"event_date={day}").glob("*.parquet"))
        assert manifest.read_text().split() == [
            LOCATION + str(f.relative_to(lake.root)) for f in files
        ]
    assert result.stdout.replace("\n", " ").strip() == (
        f"table security.cloudtrail is ready on {LOCATION} (layout symlink)"
    )


def test_run_on_athena_sends_parameters_and_prints_the_rows(
    lake: Lake, athena: Any, s3_server: str
) -> None:
    header = ["account", "user_name", "sourceipaddress", "failures"]
    rows = [["111122223333", "alice", "203.0.113.9", "7"], ["111122223333", "bob", None, "2"]]
    payload = {
        "results": [
            {
                "rows": [
                    {"Data": [{"VarCharValue": v} if v is not None else {} for v in row]}
                    for row in [header, *rows]
                ],
                "column_info": [
                    {"Name": n, "Type": "bigint" if n == "failures" else "varchar"} for n in header
                ],
            }
        ]
    }
    request = urllib.request.Request(
        f"{s3_server}/moto-api/static/athena/query-results",
        data=json.dumps(payload).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # moto's result queue
        assert response.status == 201
    before = {e["QueryExecutionId"] for e in _executions(athena)}
    args = ["run", "failed-console-logins", "--since", "2024-07-15T00:00:00Z", "--csv"]
    opts = ["--engine", "athena", "--database", "security", "--output-location", RESULTS]
    result = runner.invoke(app, [*args, *opts])
    assert result.exit_code == 0, result.output
    (sent,) = [e for e in _executions(athena) if e["QueryExecutionId"] not in before]
    assert sent["ExecutionParameters"] == [
        "'2024-07-15T00:00:00Z'",
        "CAST(NULL AS varchar)",
        "CAST(NULL AS varchar)",
    ]
    assert "2024-07-15T00:00:00Z" not in sent["Query"]
    assert "FROM cloudtrail" in sent["Query"]
    assert sent["QueryExecutionContext"]["Database"] == "security"
    out = list(csv.reader(io.StringIO(result.stdout)))
    assert out == [header, rows[0], ["111122223333", "bob", "", "2"]]
    assert f"athena query {sent['QueryExecutionId']}: succeeded, 0 bytes scanned" in result.stderr


def test_estimate_prints_bytes_partitions_and_dollars(lake: Lake) -> None:
    saved = load_library()["root-activity"]
    expected = estimate_scan(lake.files(), saved.sql, params=saved.bind({"since": "2024-07-01"}))
    result = runner.invoke(
        app, ["run", "root-activity", "--since", "2024-07-01", "--estimate", "-l", str(lake.root)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.replace("\n", " ").strip() == (
        f"Athena would scan {expected.bytes:,} bytes ({expected.bytes / 1024**2:,.1f} MB) in 3 "
        f"of 3 partitions, {len(lake.files())} files: $0.000048 (billed 10 MB at $5/TB, 10 MB "
        "minimum)"
    )
    as_json = runner.invoke(
        app,
        ["query", "SELECT eventname FROM cloudtrail", "--estimate", "--json", "-l", str(lake.root)],
    )
    data = json.loads(as_json.stdout)
    assert data["partitions"] == 3 and data["scans"][0]["columns"] == ["eventname"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["query", "SELECT 1 FROM cloudtrail", "--engine", "athena"],
            "error: --database is required with --engine athena\n"
            "hint: the Glue database of the table made by 'trailscope athena setup'\n",
        ),
        (
            ["query", "SELECT 1 FROM cloudtrail", "--engine", "presto"],
            "error: unknown engine 'presto'\nhint: use one of: duckdb, athena, spark\n",
        ),
        (
            ["athena", "ddl", "-d", "security", "--lake", "{lake}"],
            "error: Athena reads tables from S3, not from '{lake}'\n"
            "hint: give the lake's S3 location, e.g. --location s3://bucket/prefix/\n",
        ),
        (
            [
                "run",
                "root-activity",
                "--engine",
                "spark",
                "--spark-conf",
                "nonsense",
                "-l",
                "{lake}",
            ],
            "error: --spark-conf needs KEY=VALUE, got 'nonsense'\n",
        ),
    ],
)
def test_engine_option_errors_are_one_line(lake: Lake, args: list[str], message: str) -> None:
    result = runner.invoke(app, [a.format(lake=lake.root) for a in args])
    assert result.exit_code == 1
    assert result.stderr == message.format(lake=lake.root)


def test_athena_ddl_prints_both_statements(lake: Lake, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["athena", "ddl", "-d", "security", "-l", str(lake.root), "--location", LOCATION]
    )
    assert result.exit_code == 0
    first = sorted(p.name.split("=")[1] for p in (lake.root / "events").iterdir())[0]
    expected = (
        create_database_ddl("security")
        + ";\n\n"
        + create_table_ddl(LOCATION, database="security", first_day=first)
        + ";\n"
    )
    assert result.stdout == expected
