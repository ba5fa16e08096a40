"""A lake on S3: ingest, concurrent writers, Lambda invocations and local queries over it.

Everything runs against a real S3 API (moto's server on loopback). Expectations come from the
trail's own files (gzip + json, in ``trailfiles``) or from a local lake built from the same
source, never from the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
from trailfiles import trail_event_files, trail_events, unique_event_ids

from trailscope.aws_lambda import handler
from trailscope.engines.duckdb import DuckDBEngine
from trailscope.facade import Lake, open_lake
from trailscope.queries import load_library
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("s3lake-trail") / "trail"
    synth_trail(dest, events=1200, seed=21, accounts=2, days=3, redeliver_fraction=0.02)
    return dest


@pytest.fixture
def buckets(s3_server: str, s3_client: Any, trail: Path) -> Iterator[tuple[str, str, str]]:
    """(endpoint, trail bucket holding the trail, empty lake bucket)."""
    source = f"trail-{uuid.uuid4().hex[:12]}"
    lake = f"lake-{uuid.uuid4().hex[:12]}"
    for name in (source, lake):
        s3_client.create_bucket(Bucket=name)
    files = [p for p in sorted(trail.rglob("*")) if p.is_file() and "_synth" not in p.parts]

    def put(path: Path) -> None:
        s3_client.put_object(
            Bucket=source, Key=path.relative_to(trail).as_posix(), Body=path.read_bytes()
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, files))
    yield s3_server, source, lake
    for name in (source, lake):
        for key in bucket_keys(s3_client, name):
            s3_client.delete_object(Bucket=name, Key=key)
        s3_client.delete_bucket(Bucket=name)


def expected_ids(trail: Path) -> Counter:
    return unique_event_ids(trail_events(trail))


def ids_of(lake: Lake) -> Counter:
    return Counter(lake.query("SELECT eventid FROM cloudtrail").column(0).to_pylist())


def bucket_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", ()))
    return sorted(keys)


def assert_only_live_parts(client: Any, bucket: str, lake: Lake) -> None:
    """Under events/ there is exactly the manifest's live parts: nothing staged, nothing stale."""
    prefix = "lake/events/"
    on_s3 = [k.removeprefix("lake/") for k in bucket_keys(client, bucket, prefix)]
    assert on_s3 == sorted(lake.part_paths())


# --------------------------------------------------------------------------- one writer


def test_an_s3_lake_holds_every_event_once_and_answers_like_a_local_one(
    trail: Path, buckets: tuple[str, str, str], s3_client: Any, tmp_path: Path
) -> None:
    endpoint, source, lake_bucket = buckets
    lake = Lake(f"s3://{lake_bucket}/lake/", endpoint_url=endpoint)
    summary = lake.ingest(
        f"s3://{source}/", endpoint_url=endpoint, workers=2, batch_bytes=64 * 1024
    )
    assert summary.commits > 5 and summary.quarantined_objects == 0
    assert ids_of(lake) == expected_ids(trail)
    assert max(len(v) for v in lake.state().parts_by_partition().values()) <= 4
    assert_only_live_parts(s3_client, lake_bucket, lake)

    local = Lake(tmp_path / "local")
    local.ingest(str(trail), workers=1)
    reopened = open_lake(f"s3://{lake_bucket}/lake", endpoint_url=endpoint)
    info, local_info = reopened.info(), local.info()
    assert (info.events, info.partitions, info.accounts, info.regions, info.objects) == (
        local_info.events,
        local_info.partitions,
        local_info.accounts,
        local_info.regions,
        local_info.objects,
    )
    assert info.path == f"s3://{lake_bucket}/lake/"
    # Every saved query gives the same rows on both lakes.
    for name, saved in load_library().items():
        params = {p.name: p.default for p in saved.params if p.required}
        params = {k: v if v is not None else "x" for k, v in params.items()}
        got = reopened.run(name, since="2024-07-01", **params)
        want = local.run(name, since="2024-07-01", **params)
        assert sorted(map(repr, got.to_pylist())) == sorted(map(repr, want.to_pylist())), name
    # ... and a second run finds nothing new.
    again = reopened.ingest(f"s3://{source}/", endpoint_url=endpoint, workers=1)
    assert again.read == 0 and again.events_added == 0
    assert again.already_ingested == again.listed


class CountingHandler(pafs.FileSystemHandler):
    """Delegates to a real filesystem and records which files were opened for reading."""

    def __init__(self, fs: pafs.FileSystem) -> None:
        self.fs = fs
        self.opened: list[str] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingHandler) and other.fs == self.fs

    def __ne__(self, other: object) -> bool:
        return not self == other

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(selector)

    def open_input_file(self, path: str) -> Any:
        self.opened.append(path)
        return self.fs.open_input_file(path)

    def open_input_stream(self, path: str) -> Any:
        self.opened.append(path)
        return self.fs.open_input_stream(path)

    def create_dir(self, path: str, recursive: bool) -> None:
        raise NotImplementedError

    delete_dir = delete_dir_contents = delete_root_dir_contents = create_dir  # type: ignore[assignment]
    delete_file = move = copy_file = open_output_stream = open_append_stream = create_dir  # type: ignore[assignment]


def test_queries_on_an_s3_lake_open_only_the_days_they_need(
    buckets: tuple[str, str, str],
) -> None:
    endpoint, source, lake_bucket = buckets
    lake = Lake(f"s3://{lake_bucket}/lake/", endpoint_url=endpoint)
    lake.ingest(f"s3://{source}/", endpoint_url=endpoint, workers=1)
    days = sorted(lake.state().parts_by_partition())
    assert len(days) >= 3
    day = days[1]
    handler_ = CountingHandler(lake.storage.filesystem)
    paths = [lake.storage.fs_path(rel) for rel in lake.part_paths()]
    engine = DuckDBEngine(paths, filesystem=pafs.PyFileSystem(handler_))
    try:
        sql = lake.sql_for(
            f"SELECT count(*) AS n FROM cloudtrail WHERE eventtime >= '{day}T00:00:00Z' "
            f"AND eventtime < '{day}T23:59:59Z'"
        ).sql
        n = engine.query(sql).column("n")[0].as_py()
    finally:
        engine.close()
    assert n > 0
    assert handler_.opened, "the scan opened no file at all"
    assert {p.split("event_date=")[1].split("/")[0] for p in handler_.opened} == {day}
    # The same count as a full scan filtered in Python.
    times = lake.query("SELECT eventtime FROM cloudtrail").column(0).to_pylist()
    assert n == sum(1 for t in times if f"{day}T00:00:00Z" <= t < f"{day}T23:59:59Z")


# --------------------------------------------------------------------------- many writers

WRITER = textwrap.dedent(
    """
    import json, sys
    from trailscope.facade import Lake

    lake_uri, source_uri, endpoint = sys.argv[1:4]
    lake = Lake(lake_uri, endpoint_url=endpoint)
    s = lake.ingest(source_uri, endpoint_url=endpoint, workers=1, batch_bytes=32 * 1024)
    print(json.dumps(s.__dict__, default=str))
    """
)


def test_two_writers_at_once_into_one_s3_lake_lose_and_double_nothing(
    trail: Path, buckets: tuple[str, str, str], s3_client: Any, tmp_path: Path
) -> None:
    endpoint, source, lake_bucket = buckets
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    lake_uri = f"s3://{lake_bucket}/lake/"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), lake_uri, f"s3://{source}/", endpoint],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    lake = Lake(lake_uri, endpoint_url=endpoint)
    assert ids_of(lake) == expected_ids(trail)
    # They really raced (one found work the other had committed first), and together they
    # added each event once.
    assert sum(s["already_ingested"] for s in summaries) > 0, summaries
    assert sum(s["events_added"] for s in summaries) == sum(expected_ids(trail).values())
    state = lake.state()
    logs = [rec for rec in state.objects.values() if rec.kind == "log"]
    assert len(logs) == len(trail_event_files(trail)) - len(
        [p for p in trail_event_files(trail) if "CloudTrail-Insight" in p.parts]
    )
    assert_only_live_parts(s3_client, lake_bucket, lake)


def notification(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """One record of a real S3 event notification (keys arrive URL-encoded)."""
    from urllib.parse import quote_plus

    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2024-07-17T00:05:12.345Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURI"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "trailscope-ingest",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {"key": quote_plus(key), "size": size, "eTag": etag, "sequencer": "0A1B"},
        },
    }


def test_lambda_invocations_at_once_ingest_exactly_what_they_are_told(
    trail: Path, buckets: tuple[str, str, str], s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, source, lake_bucket = buckets
    monkeypatch.setenv("TRAILSCOPE_LAKE", f"s3://{lake_bucket}/lake/")
    monkeypatch.setenv("TRAILSCOPE_S3_ENDPOINT_URL", endpoint)
    records = []
    for key in bucket_keys(s3_client, source):
        head = s3_client.head_object(Bucket=source, Key=key)
        records.append(notification(source, key, head["ContentLength"], head["ETag"].strip('"')))
    # Six invocations of direct notifications, one through SQS, one through SNS, one
    # EventBridge event, and S3's at-least-once delivery: some records arrive twice.
    chunks = [{"Records": records[i::6]} for i in range(6)]
    chunks[0]["Records"] = chunks[0]["Records"][1:]  # this one comes via SQS instead
    sqs = {"Records": [{"messageId": "1", "body": json.dumps({"Records": [records[0]]})}]}
    sns = {"Records": [{"Sns": {"Message": json.dumps({"Records": records[1:3]})}}]}
    first = records[3]["s3"]
    bridge = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": source},
            "object": {
                "key": bucket_keys(s3_client, source)[3],
                "size": first["object"]["size"],
                "etag": first["object"]["eTag"],
            },
        },
    }
    events = [*chunks, sqs, sns, bridge]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(handler, events))
    assert all(r["lake"] == f"s3://{lake_bucket}/lake/" for r in results)

    lake = Lake(f"s3://{lake_bucket}/lake/", endpoint_url=endpoint)
    assert ids_of(lake) == expected_ids(trail)
    # Objects named by notifications are recorded exactly as a listing sees them.
    later = lake.ingest(f"s3://{source}/", endpoint_url=endpoint, workers=1)
    assert later.read == 0 and later.already_ingested == later.listed
    assert_only_live_parts(s3_client, lake_bucket, lake)


def test_a_missing_lake_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from trailscope.errors import TrailscopeError

    monkeypatch.delenv("TRAILSCOPE_LAKE", raising=False)
    with pytest.raises(TrailscopeError, match="TRAILSCOPE_LAKE is not set"):
        handler({"Records": []})


def test_an_s3_lake_in_a_missing_bucket_is_a_clear_error(s3_server: str) -> None:
    from trailscope.errors import LakeError

    with pytest.raises(LakeError) as err:
        Lake("s3://no-such-bucket-here/lake/", endpoint_url=s3_server).ingest(
            str(REPO / "tests"), workers=1
        )
    assert (
        err.value.message == "cannot use s3://no-such-bucket-here/lake/ as a lake: no such bucket"
    )


@pytest.mark.parametrize("where", ["s3", "local"])
def test_a_file_version_changes_when_the_file_is_replaced(
    where: str, s3_server: str, s3_client: Any, tmp_path: Path
) -> None:
    """What a kept query engine checks before each use instead of reading the file."""
    from trailscope.lake.storage import open_storage

    if where == "s3":
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        s3_client.create_bucket(Bucket=bucket)
        storage = open_storage(f"s3://{bucket}/lake/", endpoint_url=s3_server)
    else:
        storage = open_storage(tmp_path / "lake")
        storage.prepare()
    assert storage.version("meta/record") is None
    storage.write_atomic("meta/record", b"one")
    first = storage.version("meta/record")
    assert first is not None and storage.version("meta/record") == first
    storage.write_atomic("meta/record", b"two")  # same size, at once: still a new version
    assert storage.version("meta/record") not in (None, first)
