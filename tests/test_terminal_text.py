"""Text from the logs is data, never markup: whatever an attacker writes into a field, a key or
a file name reaches the analyst's terminal exactly as written, and cannot restyle, hide, reorder
or clear what the terminal shows. One case per trick, through the real command line, on every
command that prints such text.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope.cli import app

runner = CliRunner()
ACCOUNT = "111122223333"
DAY = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/07/01"

#: (what an attacker writes, what the terminal must show instead, what must never reach it)
CASES = {
    # ':100:' is Rich's emoji code for the 100-points sign
    "emoji code": ("2001:db8::100:7", "2001:db8::100:7", "\U0001f4af"),
    # markup tags would be eaten, and [hidden] hides the text between them
    "markup": ("[hidden]evil[/hidden]", "[hidden]evil[/hidden]", None),
    # ANSI: clear the screen, then print in red
    "ansi escape": ("x\x1b[2J\x1b[31mred", "x\\x1b[2J\\x1b[31mred", "\x1b"),
    # an 8-bit CSI (one character) does the same on terminals that honour C1 controls
    "c1 control": ("x\x9b31my", "x\\x9b31my", "\x9b"),
    # a right-to-left override shows 'exe.gnp' as 'png.exe'
    "bidi override": ("\u202egnp.exe", "\\u202egnp.exe", "\u202e"),
    # a newline would forge a row of its own
    "newline": ("ok\nFAKE ROW", "ok\\nFAKE ROW", None),
}


def _event(i: int, text: str) -> dict[str, object]:
    return {
        "eventTime": f"2024-07-01T10:00:{i:02d}Z",
        "eventID": f"e{i}",
        "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com",
        "awsRegion": "us-east-1",
        "sourceIPAddress": text,
        "userAgent": text,
        "userIdentity": {"type": "IAMUser", "userName": text},
        "errorMessage": text,
        "recipientAccountId": ACCOUNT,
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    day = root / "src" / DAY
    day.mkdir(parents=True)
    records = [_event(i, planted) for i, (planted, _, _) in enumerate(CASES.values())]
    (day / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    for name, (planted, _, _) in CASES.items():  # and damaged files named by the attacker
        (day / f"{name}-{_in_name(planted)}.json.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    result = runner.invoke(
        app, ["ingest", str(root / "src"), "--lake", str(root / "lake"), "--workers", "1"]
    )
    assert result.exit_code == 3, result.output  # the broken files are quarantined
    return root / "lake"


def _in_name(text: str) -> str:
    """The text as part of a file name ('/' is the one character a name cannot hold)."""
    return text.replace("/", "_")


def _check(stdout: str, case: str, *, in_name: bool = False) -> None:
    _, shown, never = CASES[case]
    assert (_in_name(shown) if in_name else shown) in stdout
    if never is not None:
        assert never not in stdout
    assert "\x1b" not in stdout  # no escape from the data (nor styles: not a terminal)


@pytest.mark.parametrize("case", CASES)
def test_query_table_shows_log_text_exactly(lake: Path, case: str) -> None:
    sql = (
        "SELECT sourceipaddress, useragent, useridentity.username AS who, errormessage "
        f"FROM cloudtrail WHERE eventid = 'e{list(CASES).index(case)}'"
    )
    result = runner.invoke(app, ["query", sql, "--lake", str(lake)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert result.stdout.count(CASES[case][1]) == 4, result.stdout  # every column, whole
    _check(result.stdout, case)
    assert result.stderr == "1 rows\n"


@pytest.mark.parametrize("case", CASES)
def test_lake_info_shows_quarantined_file_names_exactly(lake: Path, case: str) -> None:
    result = runner.invoke(app, ["lake", "info", "--lake", str(lake)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if f"/{case}-" in x]
    assert f"/{case}-{_in_name(CASES[case][1])}.json.gz: " in line
    _check(result.stdout, case, in_name=True)


@pytest.mark.parametrize("case", CASES)
def test_detect_findings_show_log_text_exactly(lake: Path, case: str, tmp_path: Path) -> None:
    (tmp_path / "all.yml").write_text(
        "id: every-listing\ntitle: Every listing\nseverity: low\nwhere: eventname = 'ListBuckets'\n"
    )
    result = runner.invoke(
        app,
        ["detect", "--no-builtin", "--rules", str(tmp_path), "--lake", str(lake)],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    _check(result.stdout, case)
    assert result.stdout.count(CASES[case][1]) == 2  # principal (the user name) and source ip


@pytest.mark.parametrize("case", [c for c in CASES if c != "newline"])  # a title is one line
def test_saved_query_titles_show_exactly(case: str, tmp_path: Path) -> None:
    planted = CASES[case][0]
    (tmp_path / "mine.sql").write_text(
        f"-- title: {planted}\n-- description: d\nSELECT 1 FROM cloudtrail\n"
    )
    result = runner.invoke(
        app, ["queries", "list", "--queries-dir", str(tmp_path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    _check(result.stdout, case)


@pytest.mark.parametrize("case", [c for c in CASES if c != "newline"])
def test_verify_shows_file_names_exactly(case: str, tmp_path: Path) -> None:
    """A log file slipped into a trail under a hostile name is listed as it is named."""
    planted = CASES[case][0].replace("/", "_")
    folder = tmp_path / DAY
    folder.mkdir(parents=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_20240701T1000Z_{planted}.json.gz"
    (folder / name).write_bytes(gzip.compress(b'{"Records":[]}'))
    result = runner.invoke(app, ["verify", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 4, result.output
    shown = _in_name(CASES[case][1])
    assert f"{DAY}/{ACCOUNT}_CloudTrail_us-east-1_20240701T1000Z_{shown}.json.gz" in result.stdout
    _check(result.stdout, case, in_name=True)
