"""``trailscope verify``: exit codes, the --json twin, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_verify import Trail, copy_trail
from typer.testing import CliRunner

from trailscope.cli import EXIT_ERROR, app
from trailscope.cli.verify import EXIT_PROBLEMS, EXIT_UNAUTHENTICATED
from trailscope.synth import PUBLIC_KEY_FILE, synth_trail

runner = CliRunner()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-trail")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    synth_trail(root, events=800, accounts=1, regions=("eu-west-1",), days=1, signing_key=key)
    return root


@pytest.fixture
def trail(template: Path, tmp_path: Path) -> Trail:
    return copy_trail(template, tmp_path)


def test_untouched_copy_without_signatures_exits_6_as_unauthenticated(trail: Trail):
    """Matching hashes and links prove nothing if the digests could have been rebuilt too."""
    for flags in ([], ["--require-signatures"]):
        result = runner.invoke(app, ["verify", str(trail.root), *flags], env={"COLUMNS": "400"})
        assert result.exit_code == EXIT_UNAUTHENTICATED == 6, result.output
        lines = result.stdout.splitlines()
        assert lines[0].startswith(
            f"verified {len(trail.logs)} log files and {len(trail.digests)} digests of {trail.root}"
        )
        assert lines[1].startswith("signatures: none available")
        assert lines[-1] == (
            f"UNAUTHENTICATED: no problem found (0 files validated, {len(trail.logs)} "
            "hash-checked only), but no digest signature could be checked: verify s3:// "
            "itself, or a copy with --lake (a lake ingested from S3 keeps the signatures)"
        )
    data = json.loads(runner.invoke(app, ["verify", str(trail.root), "--json"]).stdout)
    assert data["summary"]["outcome"] == "unauthenticated" and data["summary"]["ok"] is False
    assert data["summary"]["problems"] == 0 and data["summary"]["authenticated_digests"] == 0


def test_problems_exit_4_with_every_finding_in_json(trail: Trail):
    deleted = sorted(trail.logs)[0]
    (trail.root / deleted).unlink()
    result = runner.invoke(app, ["verify", str(trail.root), "--json"])
    assert result.exit_code == EXIT_PROBLEMS == 4
    data = json.loads(result.stdout)
    assert data["summary"]["ok"] is False and data["summary"]["problems"] == 1
    assert data["summary"]["missing"] == 1
    assert data["summary"]["unsigned"] == len(trail.logs) - 1
    assert data["summary"]["outcome"] == "problems"
    assert data["summary"]["problem_kinds"] == {"missing": 1}
    assert data["file_problems"] == [
        {
            "object": deleted,
            "status": "missing",
            "kind": "missing",
            "digest": trail.digest_of(deleted),
            "expected_sha256": next(
                f["hashValue"]
                for f in trail.digests[trail.digest_of(deleted)]["logFiles"]
                if f["s3Object"] == deleted
            ),
            "actual_sha256": None,
        }
    ]
    assert data["recorded_in_lake"] is None
    day = deleted.split("/")
    (row,) = [r for r in data["by_day"] if r["day"] == "-".join(day[4:7]) and r["region"] == day[3]]
    assert row["missing"] == 1


def test_terminal_report_names_the_chain_break(trail: Trail):
    chain = sorted(trail.digests, key=lambda k: trail.digests[k]["digestEndTime"])
    victim = chain[5]
    (trail.root / victim).unlink()
    result = runner.invoke(app, ["verify", str(trail.root)], env={"COLUMNS": "400"})
    assert result.exit_code == EXIT_PROBLEMS
    doc = trail.digests[victim]
    assert (
        f"chain break {doc['awsAccountId']}/eu-west-1: previous digest missing at "
        f"{trail.successor(victim)} (it names {victim}, nothing covers "
        f"{doc['digestStartTime']} .. {doc['digestEndTime']})"
    ) in result.stdout


def test_public_key_offline_checks_signatures_when_the_lake_has_them(trail: Trail):
    """Without signatures a given key has nothing to check: the run says so, not 'invalid'."""
    pem = trail.root / PUBLIC_KEY_FILE
    result = runner.invoke(app, ["verify", str(trail.root), "--public-key", str(pem), "--json"])
    assert result.exit_code == EXIT_UNAUTHENTICATED
    data = json.loads(result.stdout)
    assert data["key_source"] is None
    assert data["summary"]["signatures"]["unavailable"] == len(trail.digests)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["verify", "{tmp}/nowhere"],
            "error: no such folder: {tmp}/nowhere\n"
            "hint: check the path; S3 locations are written s3://BUCKET/PREFIX\n",
        ),
        (
            ["verify", "{tmp}", "--public-key", "{tmp}/missing.pem"],
            "error: cannot read public key {tmp}/missing.pem: No such file or directory\n",
        ),
        (
            ["verify", "{tmp}", "--public-key", "{tmp}/not-a-key.pem"],
            "error: {tmp}/not-a-key.pem is not a readable public key\n"
            "hint: give a PEM file (-----BEGIN PUBLIC KEY----- or "
            "-----BEGIN RSA PUBLIC KEY-----)\n",
        ),
        (
            ["verify", "{tmp}"],
            "error: nothing to verify: no CloudTrail log or digest files under {tmp}\n"
            "hint: point at the trail bucket (or its copy) holding "
            "AWSLogs/<account>/CloudTrail/ and CloudTrail-Digest/ folders\n",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "not-a-key.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n")
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == message.format(tmp=tmp_path)


def test_help_documents_exit_codes():
    result = runner.invoke(app, ["verify", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert (
        "Exit codes: 0 no problem found, 4 problems found, 6 no problem found but nothing "
        "authenticated (with --require-signatures: not everything), 1 error." in text
    )


def test_lake_comes_from_the_environment_like_every_other_command(trail: Trail, tmp_path: Path):
    lake = tmp_path / "lake"
    env = {"TRAILSCOPE_LAKE": str(lake)}
    assert runner.invoke(app, ["ingest", str(trail.root), "--workers", "1"], env=env).exit_code == 0
    result = runner.invoke(app, ["verify", str(trail.root), "--json"], env=env)
    assert result.exit_code == EXIT_UNAUTHENTICATED, result.output  # a local ingest keeps none
    data = json.loads(result.stdout)
    assert data["recorded_in_lake"] == len(trail.logs)
    recorded = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM cloudtrail_validation", "--json"], env=env
    )
    assert json.loads(recorded.stdout) == [{"n": len(trail.logs)}]
    # without the variable nothing is recorded anywhere
    result = runner.invoke(app, ["verify", str(trail.root), "--json"], env={"TRAILSCOPE_LAKE": ""})
    assert json.loads(result.stdout)["recorded_in_lake"] is None
