"""S3Source against a real S3 API (moto's server): smart listing, filters, reads, errors."""

from __future__ import annotations

import pickle
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from trailscope.errors import SourceError, SourceReadError
from trailscope.sources import (
    ListFilter,
    ObjectKind,
    S3Source,
    SourceObject,
    classify_key,
    open_source,
)
from trailscope.sources.s3 import _read_reason

pytestmark = pytest.mark.slow

ORG = "o-abcdefghij"
A, B, C = "111122223333", "444455556666", "777788889999"
REGIONS = ("eu-west-1", "us-east-1")
DAYS = [date(2024, 6, d) for d in range(1, 6)]
LOG, DIGEST, INSIGHT, OTHER = (
    ObjectKind.LOG,
    ObjectKind.DIGEST,
    ObjectKind.INSIGHT,
    ObjectKind.OTHER,
)

Call = tuple[str, str | None, str | None]  # (Prefix, Delimiter, StartAfter) of one request


def trail_keys() -> list[str]:
    """Org trail for A and B (2 regions x 5 days x 2 logs + digests), and an account trail for C."""
    keys = []
    for base in (f"AWSLogs/{ORG}/{A}", f"AWSLogs/{ORG}/{B}"):
        acct = base.rsplit("/", 1)[1]
        for region in REGIONS:
            for day in DAYS:
                folder = f"{region}/{day:%Y/%m/%d}"
                for n in (1, 2):
                    keys.append(
                        f"{base}/CloudTrail/{folder}/"
                        f"{acct}_CloudTrail_{region}_{day:%Y%m%d}T23{n}5Z_r{n}.json.gz"
                    )
                keys.append(f"{base}/CloudTrail-Digest/{folder}/{acct}_digest.json.gz")
        keys.append(f"{base}/CloudTrail-Insight/us-east-1/2024/06/03/{acct}_insight.json.gz")
        keys.append(f"{base}/CloudTrail/ConfigWritabilityCheckFile")
    keys.append(f"AWSLogs/{C}/CloudTrail/us-east-1/2024/06/03/{C}_CloudTrail_x.json.gz")
    return sorted(keys)


# In the bucket, but never part of a CloudTrail listing.
NOISE_KEYS = [
    f"AWSLogs/{ORG}/{B}/elasticloadbalancing/us-east-1/2024/06/02/lb.log.gz",
    f"AWSLogs/{C}/Config/ConfigWritabilityCheckFile",
    "elb-logs/2024/06/02/x.log",
]


@pytest.fixture(scope="module")
def trail_bucket(s3_server: str) -> tuple[str, str]:
    """One read-only trail bucket for the module: uploading it per test would dominate runtime."""
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = f"trailscope-trail-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    for key in [*trail_keys(), *NOISE_KEYS]:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return s3_server, bucket


@pytest.fixture(scope="module")
def trail_source(trail_bucket: tuple[str, str]) -> S3Source:
    """A shared source for tests that only read (a boto3 client takes a while to build)."""
    endpoint, bucket = trail_bucket
    return s3(endpoint, f"s3://{bucket}")


@pytest.fixture(scope="module")
def local_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trail bucket as `aws s3 sync` would leave it on disk."""
    root = tmp_path_factory.mktemp("bucket-copy")
    for key in [*trail_keys(), *NOISE_KEYS]:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(key.encode())
    return root


def record_listings(source: S3Source, max_keys: int | None = None) -> list[Call]:
    """Record every ListObjectsV2 request the source sends (optionally with tiny pages)."""
    calls: list[Call] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls.append((params.get("Prefix"), params.get("Delimiter"), params.get("StartAfter")))
        if max_keys is not None:
            params["MaxKeys"] = max_keys

    source.client.meta.events.register("provide-client-params.s3.ListObjectsV2", hook)
    return calls


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=UTC)


def s3(endpoint: str, uri: str) -> S3Source:
    source = open_source(uri, endpoint_url=endpoint)
    assert isinstance(source, S3Source)
    return source


# -- listing -------------------------------------------------------------------------------


def test_lists_the_trail_tree_with_kinds_sorted(trail_bucket: tuple[str, str], s3_client) -> None:
    endpoint, bucket = trail_bucket
    objects = list(s3(endpoint, f"s3://{bucket}").iter_objects())
    assert [o.key for o in objects] == trail_keys()  # sorted; ELB, Config, elb-logs/ left out
    kinds = [o.info.kind for o in objects]
    assert (kinds.count(LOG), kinds.count(DIGEST), kinds.count(INSIGHT), kinds.count(OTHER)) == (
        41,
        20,
        2,
        2,
    )
    first = objects[0]
    head = s3_client.head_object(Bucket=bucket, Key=first.key)
    assert first.info == classify_key(first.key)
    assert first.uri == f"s3://{bucket}/{first.key}"
    assert first.size == len(first.key)
    assert first.version == head["ETag"].strip('"') and '"' not in first.version


def test_filters_list_only_the_needed_prefixes(trail_bucket: tuple[str, str]) -> None:
    endpoint, bucket = trail_bucket
    source = s3(endpoint, f"s3://{bucket}/")
    calls = record_listings(source)
    flt = ListFilter(
        since=at(3, 10),
        until=at(3, 20),
        accounts=frozenset({A}),
        regions=frozenset({"us-east-1"}),
        kinds=frozenset({LOG}),
    )
    objects = list(source.iter_objects(flt))
    assert [(o.info.account, o.info.region, o.info.day) for o in objects] == [
        (A, "us-east-1", date(2024, 6, d)) for d in (2, 2, 3, 3, 4, 4)
    ]
    region = f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1/"
    assert calls == [
        ("AWSLogs/", "/", None),  # finds the org folder and account C (not wanted: not entered)
        (f"AWSLogs/{ORG}/", "/", None),  # finds A and B; B is never listed
        (f"AWSLogs/{ORG}/{A}/", "/", None),  # kind folders: only CloudTrail/ can hold LOG
        (f"AWSLogs/{ORG}/{A}/CloudTrail/", "/", None),  # regions; eu-west-1 is never listed
        (region, None, f"{region}2024/06/02"),  # one key range from the first wanted day
    ]


def test_range_listing_stops_after_the_last_wanted_day(trail_bucket: tuple[str, str]) -> None:
    endpoint, bucket = trail_bucket
    region = f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1/"
    source = s3(endpoint, f"s3://{bucket}/{region}")
    calls = record_listings(source, max_keys=2)
    flt = ListFilter(since=at(2, 0), until=at(3, 23), margin_days=0)
    assert [o.info.day for o in source.iter_objects(flt)] == [DAYS[1]] * 2 + [DAYS[2]] * 2
    # Pages of 2: June 2, June 3, then the first page with June 4 ends the listing; the
    # 3 pages still holding June 4-5 are never requested.
    assert calls == [(region, None, f"{region}2024/06/02")] * 3


def test_until_only_needs_no_start_and_kinds_pick_the_folders(
    trail_bucket: tuple[str, str],
) -> None:
    endpoint, bucket = trail_bucket
    source = s3(endpoint, f"s3://{bucket}/AWSLogs/{ORG}/{B}")
    calls = record_listings(source)
    flt = ListFilter(until=at(1), regions=frozenset({"eu-west-1"}), kinds=frozenset({DIGEST}))
    objects = list(source.iter_objects(flt))
    assert [(o.info.kind, o.info.day) for o in objects] == [(DIGEST, DAYS[0]), (DIGEST, DAYS[1])]
    digest = f"AWSLogs/{ORG}/{B}/CloudTrail-Digest/"
    assert calls == [
        (f"AWSLogs/{ORG}/{B}/", "/", None),
        (digest, "/", None),
        (f"{digest}eu-west-1/", None, None),
    ]


def test_deep_prefix_is_worked_from_where_it_points(trail_bucket: tuple[str, str]) -> None:
    endpoint, bucket = trail_bucket
    month = f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1/2024/06"  # no trailing slash
    source = s3(endpoint, f"s3://{bucket}/{month}")
    calls = record_listings(source)
    objects = list(source.iter_objects(ListFilter(since=at(4))))
    assert {o.info.day for o in objects} == {DAYS[2], DAYS[3], DAYS[4]}
    assert all(o.key.startswith(month + "/") for o in objects)
    assert calls == [(month + "/", None, f"{month}/03")]


def test_excluded_prefix_lists_nothing(trail_bucket: tuple[str, str]) -> None:
    endpoint, bucket = trail_bucket
    source = s3(endpoint, f"s3://{bucket}/AWSLogs/{ORG}/{A}/")
    calls = record_listings(source)
    assert list(source.iter_objects(ListFilter(accounts=frozenset({B})))) == []
    assert calls == []


def test_flat_prefix_lists_everything_below(
    s3_bucket: tuple[str, str], s3_upload_tree: Callable[..., list[str]], tmp_path: Path
) -> None:
    endpoint, bucket = s3_bucket
    names = ["a.json", "sub/b.ndjson", "sub/deeper/c.log", ".hidden", "x.json.gz"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    uploaded = s3_upload_tree(bucket, tmp_path, "exports/")
    source = s3(endpoint, f"s3://{bucket}/exports")
    calls = record_listings(source)
    objects = list(source.iter_objects(ListFilter(since=at(3), accounts=frozenset({A}))))
    assert [o.key for o in objects] == uploaded == sorted(f"exports/{n}" for n in names)
    assert {o.key: o.info.kind for o in objects}["exports/.hidden"] is OTHER
    assert calls == [("exports/AWSLogs/", "/", None), ("exports/", None, None)]


def test_trail_under_a_key_prefix(s3_bucket: tuple[str, str], s3_client: Any) -> None:
    endpoint, bucket = s3_bucket
    key = f"my-trail/AWSLogs/{A}/CloudTrail/us-east-1/2024/06/02/x.json.gz"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"{}")
    s3_client.put_object(Bucket=bucket, Key="my-trail/notes.txt", Body=b"")
    objects = list(s3(endpoint, f"s3://{bucket}/my-trail/").iter_objects())
    assert [(o.key, o.info.account, o.info.day) for o in objects] == [(key, A, DAYS[1])]


@pytest.mark.parametrize(
    "flt",
    [
        ListFilter(),
        ListFilter(since=at(2), until=at(4)),
        ListFilter(since=at(5), margin_days=0),
        ListFilter(until=at(1), accounts=frozenset({B, C})),
        ListFilter(regions=frozenset({"us-east-1"}), kinds=frozenset({INSIGHT, OTHER})),
        ListFilter(since=at(3), kinds=frozenset({DIGEST, OTHER})),
    ],
    ids=["all", "window", "since", "until-accounts", "region-kinds", "window-other"],
)
def test_same_answer_as_a_local_copy(
    trail_source: S3Source, local_copy: Path, flt: ListFilter
) -> None:
    """A synced copy of the bucket must list exactly like the bucket itself."""
    remote = [(o.key, o.info) for o in trail_source.iter_objects(flt)]
    local = [(o.key, o.info) for o in open_source(str(local_copy)).iter_objects(flt)]
    assert remote == local
    assert remote  # every case selects something


# -- reading -------------------------------------------------------------------------------


def test_read_and_metadata(s3_bucket: tuple[str, str], s3_client: Any) -> None:
    endpoint, bucket = s3_bucket
    key = f"AWSLogs/{A}/CloudTrail-Digest/us-east-1/2024/06/02/{A}_digest.json.gz"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"digest", Metadata={"signature": "ab12"})
    source = s3(endpoint, f"s3://{bucket}")
    (obj,) = source.iter_objects()
    assert obj.info.kind is DIGEST
    assert source.read(obj) == b"digest"
    assert source.read_metadata(obj) == {"signature": "ab12"}


def test_vanished_object(s3_bucket: tuple[str, str], s3_client: Any) -> None:
    endpoint, bucket = s3_bucket
    for key in trail_keys()[:3]:
        s3_client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    source = s3(endpoint, f"s3://{bucket}")
    obj = next(iter(source.iter_objects()))
    s3_client.delete_object(Bucket=bucket, Key=obj.key)
    with pytest.raises(SourceReadError) as err:
        source.read(obj)
    assert (err.value.key, err.value.reason) == (obj.uri, "object vanished (NoSuchKey)")
    with pytest.raises(SourceReadError) as head_err:
        source.read_metadata(obj)
    assert head_err.value.reason == "object vanished (NoSuchKey)"


def test_source_pickles_before_and_after_use(trail_bucket: tuple[str, str]) -> None:
    endpoint, bucket = trail_bucket
    source = s3(endpoint, f"s3://{bucket}/AWSLogs/{ORG}/{A}")
    fresh = pickle.loads(pickle.dumps(source))
    used_keys = [o.key for o in source.iter_objects()]  # now holds a live client
    copy = pickle.loads(pickle.dumps(source))
    assert copy._client is None
    assert (copy.bucket, copy.prefix, copy.endpoint_url) == (source.bucket, source.prefix, endpoint)
    assert (
        [o.key for o in copy.iter_objects()] == [o.key for o in fresh.iter_objects()] == used_keys
    )
    obj = next(iter(copy.iter_objects()))
    assert copy.read(obj) == obj.key.encode()


# -- errors --------------------------------------------------------------------------------


def test_missing_bucket(s3_server: str) -> None:
    source = s3(s3_server, "s3://no-such-bucket-for-trailscope/AWSLogs/")
    with pytest.raises(SourceError) as err:
        list(source.iter_objects())
    assert err.value.message == "no such bucket: no-such-bucket-for-trailscope"
    assert "--endpoint-url" in (err.value.hint or "")


def test_unreachable_endpoint(
    s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail fast instead of retrying with backoff
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    source = s3(f"http://127.0.0.1:{port}", "s3://bucket/")
    with pytest.raises(SourceError) as err:
        list(source.iter_objects())
    assert err.value.message.startswith("cannot reach S3 for s3://bucket/:")
    assert "--endpoint-url" in (err.value.hint or "")
    obj = SourceObject("k", "s3://bucket/k", 1, "e", classify_key("k"))
    with pytest.raises(SourceReadError) as read_err:
        source.read(obj)
    assert read_err.value.reason.startswith("cannot reach S3 (Could not connect")


def test_unknown_profile(s3_server: str) -> None:
    source = open_source("s3://bucket", profile="no-such-profile", endpoint_url=s3_server)
    with pytest.raises(SourceError) as err:
        list(source.iter_objects())
    assert err.value.message == "AWS profile not found: no-such-profile"
    assert err.value.hint


def test_an_unknown_profile_from_the_environment_is_named(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS_PROFILE=nosuch used to read "AWS profile not found: None".
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    with pytest.raises(SourceError) as err:
        list(open_source("s3://bucket", endpoint_url=s3_server).iter_objects())
    assert err.value.message == "AWS profile not found: nosuch"
    assert err.value.hint == (
        "AWS_PROFILE names it: check the name in ~/.aws/config, or unset AWS_PROFILE"
    )


def test_no_credentials(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    with pytest.raises(SourceError) as err:
        list(s3(s3_server, "s3://bucket").iter_objects())
    assert err.value.message == "no AWS credentials found"
    assert "--profile" in (err.value.hint or "")


def _client_error(code: str, status: int, message: str = "") -> ClientError:
    body = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(body, "GetObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "message", "reason"),
    [
        ("NoSuchKey", 404, "gone", "object vanished (NoSuchKey)"),
        ("404", 404, "", "object vanished (NoSuchKey)"),  # HEAD: no body, no code
        ("AccessDenied", 403, "Access Denied", "access denied (AccessDenied)"),
        ("403", 403, "", "access denied (AccessDenied)"),
        ("InvalidObjectState", 403, "archived", "access denied (InvalidObjectState)"),
        (
            "SlowDown",
            503,
            "Please reduce your request rate.",
            "SlowDown: Please reduce your request rate.",
        ),
    ],
)
def test_read_error_reasons(code: str, status: int, message: str, reason: str) -> None:
    assert _read_reason(_client_error(code, status, message)) == reason


@pytest.mark.parametrize(
    ("code", "status", "message", "hint_part"),
    [
        ("AccessDenied", 403, "access denied listing s3://b/p/ (AccessDenied)", "--profile"),
        (
            "InvalidAccessKeyId",
            403,
            "AWS rejected the credentials (InvalidAccessKeyId)",
            "--profile",
        ),
        ("InternalError", 500, "cannot list s3://b/p/: InternalError: boom", None),
    ],
)
def test_listing_error_messages(
    code: str, status: int, message: str, hint_part: str | None
) -> None:
    error = S3Source("b", "p")._listing_error(_client_error(code, status, "boom"))
    assert error.message == message
    if hint_part:
        assert hint_part in (error.hint or "")


# -- open_source ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("S3://bucket/AWSLogs", "bucket", "AWSLogs/"),
        (" s3://bucket/a/b/ ", "bucket", "a/b/"),
    ],
)
def test_open_source_parses_s3_uris(uri: str, bucket: str, prefix: str) -> None:
    source = open_source(uri, profile="p", endpoint_url="http://localhost:9000", region="eu-west-1")
    assert isinstance(source, S3Source)
    assert (source.bucket, source.prefix, source.uri) == (bucket, prefix, f"s3://{bucket}/{prefix}")
    assert (source.profile, source.endpoint_url, source.region) == (
        "p",
        "http://localhost:9000",
        "eu-west-1",
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://", "bad S3 URI: s3:// (no bucket name)"),
        ("s3:///prefix", "bad S3 URI: s3:///prefix (no bucket name)"),
        (
            "gs://bucket/logs",
            "unsupported location: gs://bucket/logs"
            " (only local paths and s3:// URIs are supported)",
        ),
    ],
)
def test_open_source_rejects_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        open_source(uri)
    assert err.value.message == message
    assert err.value.hint
