"""Ingest from S3 end to end, against a real S3 API (moto's server on loopback).

Every expectation here is computed independently of trailscope's decoder: the test reads the
trail files it uploaded with ``gzip`` + ``json`` and parses their keys itself.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trailscope.facade import Lake
from trailscope.sources import ListFilter, S3Source, Source, open_source
from trailscope.sources.base import NO_FILTER
from trailscope.synth import SIGNATURES_FILE, SynthReport, synth_trail

pytestmark = pytest.mark.slow

ORG = "o-abc123defg"
ORG_PREFIX = f"AWSLogs/{ORG}/"
DECODED_FOLDERS = ("CloudTrail", "CloudTrail-Insight")
ONE_DAY = dt.timedelta(days=1)
LAKE_COLUMNS = ["eventid", "recipientaccountid", "awsregion", "sourcekey"]


# --------------------------------------------------------------------------- independent model


@dataclass(frozen=True)
class KeyParts:
    """What a trail key says, parsed here without trailscope's layout code."""

    account: str
    folder: str  # CloudTrail, CloudTrail-Digest, CloudTrail-Insight
    region: str | None
    day: dt.date | None
    name: str

    @property
    def decoded(self) -> bool:
        return self.folder in DECODED_FOLDERS and self.name.endswith(".json.gz")

    @property
    def digest(self) -> bool:
        return self.folder == "CloudTrail-Digest" and self.name.endswith(".json.gz")


def parse_key(key: str) -> KeyParts:
    parts = key.split("/")
    assert parts[0] == "AWSLogs", key
    rest = parts[2:] if parts[1].startswith("o-") else parts[1:]
    account, folder, *tail = rest
    if len(tail) == 1:  # e.g. CloudTrail/ConfigWritabilityCheckFile
        return KeyParts(account, folder, None, None, tail[0])
    region, year, month, day, name = tail
    return KeyParts(account, folder, region, dt.date(int(year), int(month), int(day)), name)


def events_in(data: bytes) -> list[dict[str, Any]]:
    return json.loads(gzip.decompress(data))["Records"]


def canonical(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"))


@dataclass
class Trail:
    """A synthetic trail as uploaded: bytes by key, and the events of every decoded file."""

    report: SynthReport
    objects: dict[str, bytes]  # S3 key -> body
    events: dict[str, list[dict[str, Any]]]  # decoded (log/insight) key -> its events

    def keys(self, **want: Any) -> list[str]:
        """Keys whose parsed parts match ``want`` (values may be callables)."""
        out = []
        for key in self.objects:
            parts = parse_key(key)
            ok = True
            for name, value in want.items():
                got = getattr(parts, name)
                ok = ok and (value(got) if callable(value) else got == value)
            if ok:
                out.append(key)
        return sorted(out)

    def expected_ids(self, keys: Iterable[str]) -> Counter[str]:
        """The eventID multiset a lake built from ``keys`` must hold.

        A re-delivered event is byte-identical to its first delivery, so it counts once.
        """
        distinct = {
            (ev["eventID"], canonical(ev)) for key in keys for ev in self.events.get(key, ())
        }
        return Counter(event_id for event_id, _ in distinct)


def load_trail(report: SynthReport, prefix: str = "") -> Trail:
    root = Path(report.root)
    objects = {}
    events = {}
    for rel in sorted(p for p in root.rglob("*") if p.is_file()):
        rel_key = rel.relative_to(root).as_posix()
        if not rel_key.startswith("AWSLogs/"):
            continue  # _synth/ side files (signatures) are not part of a bucket
        key = prefix + rel_key
        objects[key] = rel.read_bytes()
        if parse_key(key).decoded:
            events[key] = events_in(objects[key])
    return Trail(report, objects, events)


def lake_table(lake: Lake) -> pa.Table:
    tables = [pq.read_table(path, columns=LAKE_COLUMNS) for path in lake.files()]
    return pa.concat_tables(tables) if tables else pa.table({c: [] for c in LAKE_COLUMNS})


def lake_ids(lake: Lake) -> Counter[str]:
    return Counter(lake_table(lake).column("eventid").to_pylist())


def full_rows(lake: Lake) -> list[dict[str, Any]]:
    tables = [pq.read_table(path) for path in lake.files()]
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return sorted(rows, key=lambda r: (r["eventid"], r["sourcekey"], json.dumps(r, default=str)))


# --------------------------------------------------------------------------- S3 helpers


def upload(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    def put(item: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, objects.items()))


def drop_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


def record_calls(source: Source, operation: str) -> list[dict[str, Any]]:
    """Every request ``source`` makes for ``operation``, with its parameters, in order."""
    calls: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client = source.client  # type: ignore[attr-defined]  # S3Source makes it on first use
    client.meta.events.register(f"provide-client-params.s3.{operation}", hook)
    return calls


def make_events(tag: str, n: int, account: str, region: str, day: dt.date) -> list[dict[str, Any]]:
    """Hand-made CloudTrail events with IDs no synthetic trail can have."""
    return [
        {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AWSService", "invokedBy": "config.amazonaws.com"},
            "eventTime": f"{day.isoformat()}T12:{i // 60:02d}:{i % 60:02d}Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetBucketAcl",
            "awsRegion": region,
            "sourceIPAddress": "config.amazonaws.com",
            "userAgent": "config.amazonaws.com",
            "requestParameters": {"bucketName": f"bucket-{tag}", "acl": ""},
            "responseElements": None,
            "requestID": f"REQ{tag.upper()}{i:05d}",
            "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"trailscope-test/{tag}/{i}")),
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
        for i in range(n)
    ]


def gz_records(events: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": events}).encode(), mtime=0)


class VanishAfterListing(S3Source):
    """An S3 source whose listing is followed by someone deleting one of the listed objects."""

    def __init__(self, bucket: str, *, vanish: str, endpoint_url: str) -> None:
        super().__init__(bucket, "", endpoint_url=endpoint_url)
        self.vanish = vanish
        self.listed: list[str] = []

    def iter_objects(self, flt: ListFilter = NO_FILTER) -> Iterator[Any]:
        for obj in super().iter_objects(flt):
            self.listed.append(obj.key)
            yield obj
        # The whole listing has been handed out; now the object disappears before it is read.
        self.client.delete_object(Bucket=self.bucket, Key=self.vanish)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def org_trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    dest = tmp_path_factory.mktemp("org-trail") / "trail"
    report = synth_trail(dest, events=3000, seed=11, org_id=ORG, accounts=2, days=4)
    return load_trail(report)


@pytest.fixture(scope="module")
def org_bucket(s3_server: str, org_trail: Trail) -> Iterator[tuple[str, str]]:
    """The organization trail uploaded once for this module; tests only read it."""
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = f"trailscope-ingest-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    upload(client, bucket, org_trail.objects)
    yield s3_server, bucket
    drop_bucket(client, bucket)


@dataclass
class Ingested:
    lake: Lake
    summary: Any
    read_keys: list[str]


@pytest.fixture(scope="module")
def org_ingested(org_bucket: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    endpoint, bucket = org_bucket
    source = open_source(f"s3://{bucket}/{ORG_PREFIX}", endpoint_url=endpoint)
    gets = record_calls(source, "GetObject")
    lake = Lake(tmp_path_factory.mktemp("org-lake") / "lake")
    summary = lake.ingest(source, workers=1)
    return Ingested(lake, summary, [c["Key"] for c in gets])


# --------------------------------------------------------------------------- 1. org trail


def test_org_trail_ingests_every_event_exactly_once(
    org_trail: Trail, org_bucket: tuple[str, str], org_ingested: Ingested
) -> None:
    report = org_trail.report
    _, bucket = org_bucket
    decoded = org_trail.keys(decoded=True)
    digests = org_trail.keys(digest=True)
    others = sorted(set(org_trail.objects) - set(decoded) - set(digests))
    # The upload really mixes in what must not be decoded.
    assert digests and others
    assert all(parse_key(k).name == "ConfigWritabilityCheckFile" for k in others)
    assert org_trail.keys(folder="CloudTrail-Insight", decoded=True)

    expected = org_trail.expected_ids(decoded)
    occurrences = sum(len(evs) for evs in org_trail.events.values())
    assert sum(expected.values()) == report.events
    assert occurrences - report.events == report.redelivered_events > 0
    assert set(expected.values()) == {1}

    got = lake_ids(org_ingested.lake)
    assert got == expected
    table = lake_table(org_ingested.lake)
    assert table.num_rows == report.events
    # Each event sits under the account and region its own JSON names.
    distinct = {canonical(ev): ev for key in decoded for ev in org_trail.events[key]}
    want_places = Counter(
        (ev["eventID"], ev["recipientAccountId"], ev["awsRegion"]) for ev in distinct.values()
    )
    got_places = Counter(
        zip(
            table.column("eventid").to_pylist(),
            table.column("recipientaccountid").to_pylist(),
            table.column("awsregion").to_pylist(),
            strict=True,
        )
    )
    assert got_places == want_places

    summary = org_ingested.summary
    assert summary.source == f"s3://{bucket}/{ORG_PREFIX}"
    assert summary.listed == len(org_trail.objects)
    assert summary.read == len(decoded)
    assert sorted(org_ingested.read_keys) == decoded  # digests and probe files never fetched
    assert summary.events_added == report.events
    assert summary.duplicates_dropped == report.redelivered_events
    assert summary.skipped == {"digest": len(digests), "other": len(others)}
    assert summary.quarantined_objects == 0
    assert summary.quarantined_events == 0
    assert summary.problems == 0

    info = org_ingested.lake.info()
    assert info.events == report.events
    assert info.objects == {"ingested": len(decoded), "skipped": len(digests) + len(others)}
    assert info.skipped_by_kind == {"digest": len(digests), "other": len(others)}
    assert info.quarantine == []
    assert info.quarantined_events == 0
    assert info.accounts == sorted(report.accounts)
    assert info.regions == sorted(report.regions)


# --------------------------------------------------------------------------- 4. re-run


def test_rerun_on_unchanged_bucket_reads_and_adds_nothing(
    org_trail: Trail, org_bucket: tuple[str, str], org_ingested: Ingested
) -> None:
    endpoint, bucket = org_bucket
    before_ids = lake_ids(org_ingested.lake)
    before_files = sorted(org_ingested.lake.files())
    source = open_source(f"s3://{bucket}/{ORG_PREFIX}", endpoint_url=endpoint)
    gets = record_calls(source, "GetObject")

    again = org_ingested.lake.ingest(source, workers=1)

    assert gets == []
    assert again.read == 0
    assert again.listed == again.already_ingested == len(org_trail.objects)
    assert again.events_added == 0
    assert again.skipped == {}
    assert again.quarantined_objects == 0
    assert again.commits == 0
    assert lake_ids(org_ingested.lake) == before_ids
    assert sorted(org_ingested.lake.files()) == before_files


# --------------------------------------------------------------------------- 5. workers


def test_two_workers_give_the_same_lake_as_one(
    org_trail: Trail,
    org_bucket: tuple[str, str],
    org_ingested: Ingested,
    tmp_path: Path,
) -> None:
    endpoint, bucket = org_bucket
    uri = f"s3://{bucket}/{ORG_PREFIX}"
    # Small batches (one or two objects each) so both workers really get work, and a
    # re-delivered event often meets its first delivery only at commit time.
    two = Lake(tmp_path / "two")
    s2 = two.ingest(uri, endpoint_url=endpoint, workers=2, batch_bytes=16 * 1024)
    s1 = org_ingested.summary  # the same bucket, one worker, default batches
    one = org_ingested.lake

    assert s2.commits > 10  # many batches (plus the skipped-objects commit)
    counted = (
        "listed",
        "already_ingested",
        "read",
        "events_added",
        "duplicates_dropped",
        "empty_objects",
        "quarantined_objects",
        "quarantined_events",
        "skipped",
        "bytes_read",
    )
    for name in counted:
        assert getattr(s2, name) == getattr(s1, name), name
    assert lake_ids(two) == lake_ids(one) == org_trail.expected_ids(org_trail.events)
    assert full_rows(two) == full_rows(one)
    i1, i2 = one.info(), two.info()
    assert (i2.events, i2.objects, i2.partitions) == (i1.events, i1.objects, i1.partitions)


# --------------------------------------------------------------------------- 2. filters


@pytest.fixture(scope="module")
def week_trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """Six days, so a two-day window with its one-day margins leaves days out on both sides.

    The hourly digests are thinned to one per account, region and delivery day: they are only
    listed and skipped, never read, so a few keep the listing honest and the upload fast.
    """
    dest = tmp_path_factory.mktemp("week-trail") / "trail"
    report = synth_trail(dest, events=1500, seed=3, org_id=ORG, accounts=2, days=6)
    trail = load_trail(report)
    seen: set[tuple[str, str | None, dt.date | None]] = set()
    for key in sorted(trail.objects):
        parts = parse_key(key)
        if parts.digest:
            place = (parts.account, parts.region, parts.day)
            if place in seen:
                del trail.objects[key]
            seen.add(place)
    return trail


def test_filters_list_only_wanted_keys_and_a_later_full_run_reads_only_the_rest(
    week_trail: Trail,
    s3_bucket: tuple[str, str],
    s3_client: Any,
    tmp_path: Path,
) -> None:
    endpoint, bucket = s3_bucket
    upload(s3_client, bucket, week_trail.objects)
    report = week_trail.report
    # The home region, and the account whose logs also come from other regions.
    region = report.regions[0]
    account = max(
        report.accounts,
        key=lambda a: len({parse_key(k).region for k in week_trail.keys(account=a, decoded=True)}),
    )
    since, until = report.days[2], report.days[3]  # a two-day window in the middle
    first, last = since - ONE_DAY, until + ONE_DAY  # delivery days that may hold its events

    def in_window(day: dt.date | None) -> bool:
        return day is not None and first <= day <= last

    wanted = week_trail.keys(account=account, region=region, day=in_window)
    wanted_decoded = [k for k in wanted if parse_key(k).decoded]
    # The filter must leave out something on every axis, or it proves nothing.
    assert week_trail.keys(account=account, region=region, day=lambda d: d and d > last)
    assert week_trail.keys(account=account, region=region, day=lambda d: d and d < first)
    assert week_trail.keys(account=account, region=region, digest=True, day=in_window)
    assert week_trail.keys(account=account, region=lambda r: r and r != region, day=in_window)
    assert week_trail.keys(account=lambda a: a != account, region=region, day=in_window)
    assert wanted_decoded

    source = open_source(f"s3://{bucket}/{ORG_PREFIX}", endpoint_url=endpoint)
    lists = record_calls(source, "ListObjectsV2")
    gets = record_calls(source, "GetObject")
    lake = Lake(tmp_path / "lake")
    first_run = lake.ingest(
        source, since=since, until=until, accounts=[account], regions=[region], workers=1
    )

    # -- what was listed ------------------------------------------------------------------
    account_prefix = f"{ORG_PREFIX}{account}/"
    folders = sorted({parse_key(k).folder for k in week_trail.keys(account=account)})
    region_folders = sorted(
        {parse_key(k).folder for k in week_trail.keys(account=account, region=region)}
    )
    assert lists, "no ListObjectsV2 request was seen"
    levels = {(c["Prefix"], c.get("Delimiter")) for c in lists}
    assert levels == {
        (ORG_PREFIX, "/"),
        (account_prefix, "/"),
        *((f"{account_prefix}{folder}/", "/") for folder in folders),
        *((f"{account_prefix}{folder}/{region}/", None) for folder in region_folders),
    }
    skipped_by_start = 0
    for call in lists:
        prefix = call["Prefix"]
        assert prefix in (ORG_PREFIX, account_prefix) or prefix.startswith(account_prefix)
        if call.get("Delimiter") is not None:
            continue
        # A key-range listing of one region folder: it must start at the first wanted day.
        assert prefix.endswith(f"/{region}/"), call
        start_after = call.get("StartAfter")
        assert start_after is not None and start_after.startswith(prefix), call
        under = [k for k in week_trail.objects if k.startswith(prefix)]
        early = [k for k in under if parse_key(k).day < first]  # type: ignore[operator]
        assert all(k <= start_after for k in early), call
        assert all(k > start_after for k in under if k not in early), call
        skipped_by_start += len(early)
    assert skipped_by_start, "no key before the window: StartAfter was never put to the test"

    # -- what was read and what the lake holds --------------------------------------------
    assert first_run.listed == len(wanted)
    assert first_run.read == len(wanted_decoded)
    assert sorted(c["Key"] for c in gets) == wanted_decoded
    assert first_run.quarantined_objects == 0
    table = lake_table(lake)
    assert set(table.column("recipientaccountid").to_pylist()) == {account}
    assert set(table.column("awsregion").to_pylist()) == {region}
    id_days: dict[str, set[dt.date]] = {}
    for key, evs in week_trail.events.items():
        for ev in evs:
            id_days.setdefault(ev["eventID"], set()).add(parse_key(key).day)  # type: ignore[arg-type]
    for event_id in table.column("eventid").to_pylist():
        assert any(in_window(day) for day in id_days[event_id]), event_id
    assert lake_ids(lake) == week_trail.expected_ids(wanted_decoded)
    assert first_run.events_added == sum(week_trail.expected_ids(wanted_decoded).values())

    # -- a later run without filters reads only what is left ------------------------------
    rest = open_source(f"s3://{bucket}/{ORG_PREFIX}", endpoint_url=endpoint)
    rest_gets = record_calls(rest, "GetObject")
    second_run = lake.ingest(rest, workers=1)

    all_decoded = week_trail.keys(decoded=True)
    assert second_run.listed == len(week_trail.objects)
    assert second_run.already_ingested == first_run.listed
    assert second_run.read == len(all_decoded) - len(wanted_decoded)
    assert sorted(c["Key"] for c in rest_gets) == sorted(set(all_decoded) - set(wanted_decoded))
    everything = week_trail.expected_ids(all_decoded)
    assert lake_ids(lake) == everything
    assert first_run.events_added + second_run.events_added == report.events
    assert sum(everything.values()) == report.events

    # ... and ends up where a single run over everything does.
    one_shot = Lake(tmp_path / "one-shot")
    once = one_shot.ingest(f"s3://{bucket}/{ORG_PREFIX}", endpoint_url=endpoint, workers=1)
    assert once.events_added == report.events
    assert lake_ids(one_shot) == lake_ids(lake)
    assert full_rows(one_shot) == full_rows(lake)
    assert lake.info().objects == one_shot.info().objects
    assert lake.info().skipped_by_kind == one_shot.info().skipped_by_kind


# --------------------------------------------------------------------------- 3. bad objects

# Exact one-line reasons, as a user reads them in `trailscope lake info`.
TRUNCATED_REASON = "damaged gzip: Compressed file ended before the end-of-stream marker was reached"
BAD_JSON_TEXT = b'{"Records": [{"eventID": "1",'
BAD_JSON_REASON = "not JSON: unexpected end of data: line 1 column 30 (char 29)"
NOT_CLOUDTRAIL_DOC = {
    "fileVersion": "1.0",
    "configSnapshotId": "5f6e7d8c-0000-4000-8000-000000000001",
    "configurationItems": [{"resourceType": "AWS::S3::Bucket", "resourceId": "b"}],
}
NOT_CLOUDTRAIL_REASON = (
    "object is not a CloudTrail event (keys: fileVersion, configSnapshotId, configurationItems)"
)
VANISHED_REASON = "object vanished (NoSuchKey)"
DENIED_REASON = "access denied (AccessDenied)"


@pytest.fixture
def small_trail(tmp_path: Path) -> Trail:
    report = synth_trail(tmp_path / "trail", events=400, seed=5, accounts=1, days=2, digests=False)
    return load_trail(report)


def deny_get(client: Any, bucket: str, key: str) -> None:
    """A bucket policy that denies everyone s3:GetObject on one key.

    moto's server enforces an explicit bucket-policy Deny on object reads, but answers with a
    bare 403 and no error body, so botocore sees the code "403" rather than "AccessDenied"
    (real S3 sends the XML body). Both must give the same one-line reason.
    """
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyOneKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{key}",
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_bad_objects_are_quarantined_with_one_line_reasons_and_fixed_ones_reread(
    small_trail: Trail,
    s3_bucket: tuple[str, str],
    s3_client: Any,
    tmp_path: Path,
) -> None:
    endpoint, bucket = s3_bucket
    report = small_trail.report
    account, region, day = report.accounts[0], report.regions[0], report.days[-1]
    folder = f"AWSLogs/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"

    def log_key(tag: str) -> str:
        return f"{folder}{account}_CloudTrail_{region}_{day:%Y%m%d}T2355Z_{tag}.json.gz"

    keys = {
        tag: log_key(tag) for tag in ("truncated", "badjson", "notcloudtrail", "vanished", "denied")
    }
    full = gz_records(make_events("truncated", 40, account, region, day))
    bad = {
        keys["truncated"]: full[: len(full) // 2],
        keys["badjson"]: gzip.compress(BAD_JSON_TEXT, mtime=0),
        keys["notcloudtrail"]: gzip.compress(json.dumps(NOT_CLOUDTRAIL_DOC).encode(), mtime=0),
        keys["vanished"]: gz_records(make_events("vanished", 5, account, region, day)),
        keys["denied"]: gz_records(make_events("denied", 7, account, region, day)),
    }
    # Sanity of the fixtures themselves, checked with the standard library.
    with pytest.raises(EOFError):
        gzip.decompress(bad[keys["truncated"]])
    with pytest.raises(json.JSONDecodeError):
        json.loads(gzip.decompress(bad[keys["badjson"]]))

    upload(s3_client, bucket, small_trail.objects)
    upload(s3_client, bucket, bad)
    deny_get(s3_client, bucket, keys["denied"])
    with pytest.raises(s3_client.exceptions.ClientError) as denied:
        s3_client.get_object(Bucket=bucket, Key=keys["denied"])
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    good_decoded = small_trail.keys(decoded=True)
    good = small_trail.expected_ids(good_decoded)
    lake = Lake(tmp_path / "lake")
    source = VanishAfterListing(bucket, vanish=keys["vanished"], endpoint_url=endpoint)
    summary = lake.ingest(source, workers=1)

    assert keys["vanished"] in source.listed
    expected_reasons = {
        keys["truncated"]: TRUNCATED_REASON,
        keys["badjson"]: BAD_JSON_REASON,
        keys["notcloudtrail"]: NOT_CLOUDTRAIL_REASON,
        keys["vanished"]: VANISHED_REASON,
        keys["denied"]: DENIED_REASON,
    }
    info = lake.info()
    quarantine = {q.uri: (q.position, q.reason) for q in info.quarantine}
    assert len(info.quarantine) == len(quarantine)  # one entry per object
    assert quarantine == {f"s3://{bucket}/{k}": (None, r) for k, r in expected_reasons.items()}
    for _, reason in quarantine.values():
        assert "\n" not in reason and reason.strip() == reason
    assert summary.quarantined_objects == len(bad) == summary.problems
    assert summary.quarantined_events == 0
    assert info.objects.get("quarantined") == len(bad)
    # The run went on: every good event is there, nothing from the bad objects.
    assert summary.read == len(good_decoded) + len(bad)
    assert lake_ids(lake) == good
    assert summary.events_added == sum(good.values())

    # -- fix every bad object (new content, so a new ETag) and run again ------------------
    s3_client.delete_bucket_policy(Bucket=bucket)
    fixed_events = {
        key: make_events(f"fixed-{tag}", 3 + n, account, region, day)
        for n, (tag, key) in enumerate(sorted(keys.items()))
    }
    upload(s3_client, bucket, {key: gz_records(evs) for key, evs in fixed_events.items()})

    again_source = open_source(f"s3://{bucket}/", endpoint_url=endpoint)
    gets = record_calls(again_source, "GetObject")
    again = lake.ingest(again_source, workers=1)

    assert sorted(c["Key"] for c in gets) == sorted(keys.values())
    assert again.read == len(keys)
    assert again.already_ingested == again.listed - len(keys)
    assert again.quarantined_objects == 0
    fixed_ids = Counter(ev["eventID"] for evs in fixed_events.values() for ev in evs)
    assert again.events_added == sum(fixed_ids.values())
    assert lake_ids(lake) == good + fixed_ids
    info = lake.info()
    assert info.quarantine == []
    assert "quarantined" not in info.objects

    # -- and once more: nothing changed, nothing read -------------------------------------
    idle_source = open_source(f"s3://{bucket}/", endpoint_url=endpoint)
    idle_gets = record_calls(idle_source, "GetObject")
    idle = lake.ingest(idle_source, workers=1)
    assert idle_gets == []
    assert (idle.read, idle.events_added, idle.commits) == (0, 0, 0)
    assert idle.already_ingested == idle.listed == again.listed
    assert lake_ids(lake) == good + fixed_ids


def test_read_failures_are_retried_when_the_object_is_readable_again_unchanged(
    small_trail: Trail,
    s3_bucket: tuple[str, str],
    s3_client: Any,
    tmp_path: Path,
) -> None:
    """A denied or vanished object was never read: once it can be read, a re-run must read it.

    Fixing a permission (or an object coming back, byte-identical) does not change the ETag,
    so the object's version alone cannot say whether its events are in the lake.
    """
    endpoint, bucket = s3_bucket
    report = small_trail.report
    account, region, day = report.accounts[0], report.regions[0], report.days[-1]
    folder = f"AWSLogs/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
    denied_key = f"{folder}{account}_CloudTrail_{region}_{day:%Y%m%d}T2356Z_denied.json.gz"
    vanished_key = f"{folder}{account}_CloudTrail_{region}_{day:%Y%m%d}T2357Z_vanish.json.gz"
    denied_events = make_events("retry-denied", 6, account, region, day)
    vanished_events = make_events("retry-vanished", 4, account, region, day)
    extra = {denied_key: gz_records(denied_events), vanished_key: gz_records(vanished_events)}
    upload(s3_client, bucket, {**small_trail.objects, **extra})
    deny_get(s3_client, bucket, denied_key)

    lake = Lake(tmp_path / "lake")
    first = lake.ingest(
        VanishAfterListing(bucket, vanish=vanished_key, endpoint_url=endpoint), workers=1
    )
    assert first.quarantined_objects == 2
    good = small_trail.expected_ids(small_trail.keys(decoded=True))
    assert lake_ids(lake) == good

    # The permission is fixed and the object is put back exactly as it was.
    s3_client.delete_bucket_policy(Bucket=bucket)
    upload(s3_client, bucket, {vanished_key: extra[vanished_key]})
    source = open_source(f"s3://{bucket}/", endpoint_url=endpoint)
    gets = record_calls(source, "GetObject")
    again = lake.ingest(source, workers=1)

    assert sorted(c["Key"] for c in gets) == sorted(extra)
    assert again.read == 2
    assert again.quarantined_objects == 0
    retried = Counter(ev["eventID"] for ev in denied_events + vanished_events)
    assert lake_ids(lake) == good + retried
    assert lake.info().quarantine == []


# --------------------------------------------------------------------------- digest signatures


def test_digest_signatures_from_s3_metadata_are_kept_in_the_lake(
    s3_bucket: tuple[str, str], s3_client: Any, tmp_path: Path
) -> None:
    """A digest's signature lives only in its S3 metadata; the lake must keep it for verify."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    report = synth_trail(
        tmp_path / "trail", events=300, seed=11, accounts=1, days=2, signing_key=key
    )
    trail = load_trail(report)
    signatures = json.loads((Path(report.root) / SIGNATURES_FILE).read_text())
    endpoint, bucket = s3_bucket
    digests = trail.keys(digest=True)
    assert digests and set(signatures) == set(digests)
    for k, body in trail.objects.items():
        meta = {"signature": signatures.get(k, ""), "signature-algorithm": "SHA256withRSA"}
        s3_client.put_object(
            Bucket=bucket, Key=k, Body=body, Metadata=meta if k in signatures else {}
        )

    lake = Lake(tmp_path / "lake")
    lake.ingest(f"s3://{bucket}/", endpoint_url=endpoint, workers=1)
    assert lake.digest_signatures() == {
        k: {"signature": sig, "signature-algorithm": "SHA256withRSA"}
        for k, sig in signatures.items()
    }
    # A local copy has no metadata: nothing is made up.
    local = Lake(tmp_path / "local-lake")
    local.ingest(str(Path(report.root) / "AWSLogs"), workers=1)
    assert local.digest_signatures() == {}
