"""``Lake.verify``: a plain local copy of a bucket checked with the digest signatures the lake
kept when it ingested the bucket (from a real S3 API: moto's server), verdicts recorded."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_verify import Trail, copy_trail
from test_verify_s3_lake import PREFIX, upload

from trailscope import Lake, TrailscopeError
from trailscope.synth import PUBLIC_KEY_FILE, synth_trail


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> Path:
    root = tmp_path_factory.mktemp("signed-trail-api")
    synth_trail(
        root, events=1200, accounts=1, regions=("us-east-1",), days=1, signing_key=signing_key
    )
    return root


def test_verify_uses_the_lakes_signatures_and_records_the_verdicts(
    template: Path, tmp_path: Path, s3_bucket: tuple[str, str], s3_client: Any
) -> None:
    trail: Trail = copy_trail(template, tmp_path)
    endpoint, bucket = s3_bucket
    upload(s3_client, bucket, trail)
    lake = Lake(tmp_path / "lake")
    lake.ingest(f"s3://{bucket}/{PREFIX}", endpoint_url=endpoint, workers=1)
    pem = trail.root / PUBLIC_KEY_FILE

    report = lake.verify(str(trail.root), public_keys=[pem])
    assert report.outcome == "ok"
    assert report.signature_source == "lake"
    summary = report.summary()
    assert summary["validated"] == len(trail.logs)
    assert summary["signatures"]["valid"] == len(trail.digests)
    verdicts = "SELECT status, count(*) AS n FROM cloudtrail_validation GROUP BY 1"
    assert lake.query(verdicts).to_pylist() == [{"status": "valid", "n": len(trail.logs)}]

    changed = sorted(trail.logs)[0]
    raw = gzip.decompress((trail.root / changed).read_bytes())
    (trail.root / changed).write_bytes(gzip.compress(raw.replace(b"us-east-1", b"us-east-2", 1)))
    checked_only = lake.verify(str(trail.root), public_keys=[pem], record=False)
    assert checked_only.outcome == "problems"
    assert {f.id: str(f.status) for f in checked_only.files}[changed] == "modified"
    # not recorded: the lake still holds the earlier verdicts
    assert lake.query(verdicts).to_pylist() == [{"status": "valid", "n": len(trail.logs)}]

    lake.verify(str(trail.root), public_keys=[pem], since="2000-01-01")
    assert sorted(lake.query(verdicts).to_pylist(), key=lambda r: r["status"]) == [
        {"status": "modified", "n": 1},
        {"status": "valid", "n": len(trail.logs) - 1},
    ]


def test_verify_with_a_key_file_that_is_not_there(template: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(template), workers=1)
    with pytest.raises(TrailscopeError) as caught:
        lake.verify(str(template), public_keys=[tmp_path / "missing.pem"])
    assert str(tmp_path / "missing.pem") in caught.value.message
    assert lake.read_table("cloudtrail_validation") is None  # nothing recorded
