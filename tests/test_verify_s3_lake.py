"""Verify from a real S3 API (moto's server) where signatures live in object metadata, keep them
in a lake at ingest, verify a plain local copy with them, and record the results in the lake.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_verify import Trail, copy_trail, problems_only, statuses
from typer.testing import CliRunner

from trailscope.cli import EXIT_OK, app
from trailscope.facade import Lake, open_lake
from trailscope.integrity import (
    SignatureStatus,
    StaticKeys,
    validated_files,
    validation_path,
    verify_trail,
)
from trailscope.synth import PUBLIC_KEY_FILE, synth_trail

pytestmark = pytest.mark.slow

PREFIX = "org-trails/"  # a trail prefix in front of AWSLogs/, as CloudTrail allows


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def keys(signing_key: rsa.RSAPrivateKey) -> StaticKeys:
    return StaticKeys([signing_key.public_key()])


@pytest.fixture
def trail(template: Path, tmp_path: Path) -> Trail:
    return copy_trail(template, tmp_path)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> Path:
    """One account and region: every S3 request costs, and the cases need only one chain."""
    root = tmp_path_factory.mktemp("signed-trail-s3")
    synth_trail(
        root, events=1500, accounts=1, regions=("us-east-1",), days=1, signing_key=signing_key
    )
    return root


def checked_soon_after(trail: Trail) -> dt.datetime:
    """Half an hour after the trail's newest digest ended: a bucket CloudTrail still writes to."""
    newest = max(d["digestEndTime"] for d in trail.digests.values())
    return dt.datetime.fromisoformat(newest.replace("Z", "+00:00")) + dt.timedelta(minutes=30)


def upload(s3: Any, bucket: str, trail: Trail) -> None:
    """Put the trail in the bucket as CloudTrail would: digests carry their signature."""
    meta = trail.metadata()
    for path in sorted((trail.root / "AWSLogs").rglob("*")):
        if path.is_file():
            key = path.relative_to(trail.root).as_posix()
            extra = {"Metadata": meta[key]} if key in meta else {}
            s3.put_object(Bucket=bucket, Key=PREFIX + key, Body=path.read_bytes(), **extra)


def test_verify_from_s3_uses_object_metadata_and_finds_tampering(
    trail: Trail, keys: StaticKeys, s3_bucket: tuple[str, str], s3_client: Any
):
    endpoint, bucket = s3_bucket
    upload(s3_client, bucket, trail)
    uri = f"s3://{bucket}/{PREFIX}"
    # a bucket is checked against now: run the check half an hour after the last digest
    now = checked_soon_after(trail)
    report = verify_trail(uri, endpoint_url=endpoint, keys=keys, now=now)
    assert report.ok, report.to_json()
    assert report.signature_source == "s3 metadata"
    assert statuses(report) == {log: "valid" for log in trail.logs}
    assert {d.id: d.signature for d in report.digests} == {
        k: SignatureStatus.VALID for k in trail.digests
    }

    # tamper in the bucket: change a log, delete another, strip one digest's signature
    changed, deleted = sorted(trail.logs)[1], sorted(trail.logs)[-1]
    raw = gzip.decompress((trail.root / changed).read_bytes())
    s3_client.put_object(
        Bucket=bucket, Key=PREFIX + changed, Body=gzip.compress(raw.replace(b"{", b"{ ", 1))
    )
    s3_client.delete_object(Bucket=bucket, Key=PREFIX + deleted)
    stripped = sorted(k for k in trail.digests if k not in {trail.digest_of(changed)})[0]
    s3_client.put_object(
        Bucket=bucket, Key=PREFIX + stripped, Body=(trail.root / stripped).read_bytes()
    )
    report = verify_trail(uri, endpoint_url=endpoint, keys=keys, now=now)
    assert problems_only(report) == {changed: "modified", deleted: "missing"}
    assert [d.id for d in report.digests if d.signature is SignatureStatus.UNAVAILABLE] == [
        stripped
    ]
    assert {f.id for f in report.files if str(f.status) == "unsigned"} == trail.listed_in(stripped)


def test_lake_keeps_signatures_and_records_which_files_were_validated(
    trail: Trail,
    s3_bucket: tuple[str, str],
    s3_client: Any,
    tmp_path: Path,
):
    endpoint, bucket = s3_bucket
    upload(s3_client, bucket, trail)
    lake_dir = tmp_path / "lake"
    Lake(lake_dir).ingest(f"s3://{bucket}/{PREFIX}", endpoint_url=endpoint, workers=1)
    lake = Lake(lake_dir)
    assert {k: v["signature"] for k, v in lake.digest_signatures().items()} == trail.signatures

    # a plain local copy (no metadata) verified with the lake's signatures, through the CLI
    runner = CliRunner()
    pem = trail.root / PUBLIC_KEY_FILE
    args = ["verify", str(trail.root), "--lake", str(lake_dir), "--public-key", str(pem)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.stdout)
    assert data["signature_source"] == "lake" and data["key_source"] == "--public-key"
    assert data["summary"]["validated"] == len(trail.logs) == data["recorded_in_lake"]
    assert data["summary"]["signatures"]["valid"] == len(trail.digests)

    table = validated_files(open_lake(lake_dir))
    assert dict(zip(table["object_id"].to_pylist(), table["status"].to_pylist(), strict=True)) == {
        log: "valid" for log in trail.logs
    }
    assert pq.read_schema(validation_path(open_lake(lake_dir))).names == table.schema.names

    # events join their file's verdict on the key from AWSLogs/ on
    events = lake.query("SELECT sourcekey, count(*) AS n FROM cloudtrail GROUP BY 1")
    per_file = dict(zip(events["sourcekey"].to_pylist(), events["n"].to_pylist(), strict=True))
    assert all(k.startswith(PREFIX) for k in per_file)
    parts = [str(p) for p in lake.files()]
    joined = duckdb.sql(
        "SELECT v.status, count(*) AS n FROM read_parquet($parts) c "
        "JOIN read_parquet($validation) v "
        "ON substr(c.sourcekey, strpos(c.sourcekey, 'AWSLogs/')) = v.object_id GROUP BY 1",
        params={"parts": parts, "validation": str(validation_path(open_lake(lake_dir)))},
    ).fetchall()
    # Insight files are outside the digests; every event of a log file is from a valid one
    logged = sum(n for k, n in per_file.items() if "/CloudTrail/" in k)
    assert 0 < logged < sum(per_file.values())
    assert joined == [("valid", logged)]
    # ... and the lake's own SQL has the verdicts as a table beside the events.
    via_lake = lake.query(
        "SELECT v.status, count(*) AS n FROM cloudtrail c JOIN cloudtrail_validation v "
        "ON substr(c.sourcekey, strpos(c.sourcekey, 'AWSLogs/')) = v.object_id GROUP BY 1"
    )
    assert via_lake.to_pylist() == [{"status": "valid", "n": logged}]

    # a later run that finds a modified file replaces that file's row and keeps the others
    changed = sorted(trail.logs)[0]
    raw = gzip.decompress((trail.root / changed).read_bytes())
    (trail.root / changed).write_bytes(gzip.compress(raw + b" "))
    result = runner.invoke(app, [*args, "--account", changed.split("/")[1]])
    assert result.exit_code == 4, result.output
    table = validated_files(open_lake(lake_dir))
    verdicts = dict(zip(table["object_id"].to_pylist(), table["status"].to_pylist(), strict=True))
    assert verdicts == {log: "modified" if log == changed else "valid" for log in trail.logs}
    # the same Lake object, which keeps its engine between queries, sees the new verdicts
    modified = "SELECT count(*) AS n FROM cloudtrail_validation WHERE status = 'modified'"
    assert lake.query(modified).to_pylist() == [{"n": 1}]
    (row,) = [r for r in table.to_pylist() if r["object_id"] == changed]
    assert row["actual_sha256"] == hashlib.sha256(raw + b" ").hexdigest()
    assert row["expected_sha256"] == hashlib.sha256(raw).hexdigest()


def test_verify_with_a_lake_that_does_not_exist(tmp_path: Path, trail: Trail):
    result = CliRunner().invoke(app, ["verify", str(trail.root), "--lake", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no lake at {tmp_path / 'nope'}\n"
        "hint: create one with 'trailscope ingest SOURCE --lake PATH' or 'trailscope demo'\n"
    )


def test_a_bucket_whose_newest_digests_were_deleted_with_their_logs_ends_before_now(
    trail: Trail, keys: StaticKeys, s3_bucket: tuple[str, str], s3_client: Any
):
    """One chain only, so no sibling tells: the time of the check does."""
    endpoint, bucket = s3_bucket
    now = checked_soon_after(trail)
    ((account, region), chain) = next(iter(trail.chains().items()))
    cut = chain[-4:]
    for key in cut:
        (trail.root / key).unlink()
        for log in trail.listed_in(key):
            (trail.root / log).unlink()
    upload(s3_client, bucket, Trail.read(trail.root))
    uri = f"s3://{bucket}/{PREFIX}"
    report = verify_trail(uri, endpoint_url=endpoint, keys=keys, now=now)
    last = trail.digests[chain[-5]]["digestEndTime"]
    hours = (now - dt.datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds() / 3600
    assert [
        (c.account, c.region, c.last_digest, c.last_end, c.reference) for c in report.chain_ends
    ] == [(account, region, chain[-5], last, "now")]
    assert report.chain_ends[0].hours_short == round(hours, 1) > 3
    assert report.problem_counts() == {"chain_ends_early": 1}
    assert report.outcome == "problems" and report.chain_breaks == []
    # checked before the deleted digests were due, the cut trail is a trail still being written
    assert (
        verify_trail(
            uri, endpoint_url=endpoint, keys=keys, now=now - dt.timedelta(hours=3, minutes=30)
        ).chain_ends
        == []
    )
