"""Log-file integrity validation on trails the project's generator signs with a test key.

Every expectation is computed here from the files themselves with ``gzip`` + ``json`` (which
digest lists which log, which digest follows which), never from trailscope's own parsing; each
tampering case asserts exactly what is reported and that nothing else is.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trailscope.errors import TrailscopeError
from trailscope.integrity import (
    Outcome,
    SignatureStatus,
    StaticKeys,
    VerifyReport,
    verify_trail,
)
from trailscope.synth import SIGNATURES_FILE, synth_trail

REGIONS = ("us-east-1", "eu-west-1")


# --------------------------------------------------------------------------- independent model


@dataclass
class Trail:
    """A generated trail as this test reads it: logs and digests by key from ``AWSLogs/``."""

    root: Path
    logs: set[str] = field(default_factory=set)
    digests: dict[str, dict[str, Any]] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Trail:
        trail = cls(root)
        for path in sorted((root / "AWSLogs").rglob("*.json.gz")):
            key = path.relative_to(root).as_posix()
            folder = key.split("/")[2]
            if folder == "CloudTrail":
                trail.logs.add(key)
            elif folder == "CloudTrail-Digest":
                trail.digests[key] = json.loads(gzip.decompress(path.read_bytes()))
        sig_file = root / SIGNATURES_FILE
        if sig_file.exists():
            trail.signatures = json.loads(sig_file.read_text())
        return trail

    def chains(self) -> dict[tuple[str, str], list[str]]:
        """Digest keys per (account, region), oldest first."""
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        for key, doc in self.digests.items():
            out[(doc["awsAccountId"], key.split("/")[3])].append(key)
        for keys in out.values():
            keys.sort(key=lambda k: self.digests[k]["digestEndTime"])
        return dict(out)

    def listed_in(self, digest: str) -> set[str]:
        return {f["s3Object"] for f in self.digests[digest]["logFiles"]}

    def digest_of(self, log: str) -> str:
        return next(k for k, d in self.digests.items() if log in self.listed_in(k))

    def successor(self, digest: str) -> str:
        return next(k for k, d in self.digests.items() if d["previousDigestS3Object"] == digest)

    def metadata(self) -> dict[str, dict[str, str]]:
        return {
            k: {"signature": s, "signature-algorithm": "SHA256withRSA"}
            for k, s in self.signatures.items()
        }


def statuses(report: VerifyReport) -> dict[str, str]:
    return {f.id: str(f.status) for f in report.files}


def problems_only(report: VerifyReport) -> dict[str, str]:
    return {k: v for k, v in statuses(report).items() if v not in ("valid", "unsigned")}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> Path:
    root = tmp_path_factory.mktemp("signed-trail")
    synth_trail(
        root, events=2500, accounts=2, regions=REGIONS, days=1, signing_key=signing_key, seed=11
    )
    return root


def copy_trail(template: Path, tmp_path: Path) -> Trail:
    root = tmp_path / "trail"
    shutil.copytree(template, root)
    return Trail.read(root)


@pytest.fixture
def trail(template: Path, tmp_path: Path) -> Trail:
    """A fresh copy to tamper with."""
    return copy_trail(template, tmp_path)


@pytest.fixture
def keys(signing_key: rsa.RSAPrivateKey) -> StaticKeys:
    return StaticKeys([signing_key.public_key()])


def verify_signed(trail: Trail, keys: StaticKeys, **kw: Any) -> VerifyReport:
    return verify_trail(str(trail.root), signatures=trail.metadata(), keys=keys, **kw)


# --------------------------------------------------------------------------- untouched


def test_untouched_trail_passes_with_every_signature_checked(trail: Trail, keys: StaticKeys):
    report = verify_signed(trail, keys)
    assert report.ok and report.problems == 0
    assert statuses(report) == {log: "valid" for log in trail.logs}
    assert {d.id: d.signature for d in report.digests} == {
        k: SignatureStatus.VALID for k in trail.digests
    }
    assert report.chain_breaks == []
    assert report.chain_starts == sorted(keys_[0] for keys_ in trail.chains().values())
    assert len(trail.chains()) == 2 * len(REGIONS)
    # per account/region/day counts add up to the files and digests on disk
    rows = report.by_day()
    assert sum(r["validated"] for r in rows) == len(trail.logs)
    assert sum(r["digests"] for r in rows) == len(trail.digests)
    by_ard: dict[tuple[str, str, str], int] = defaultdict(int)
    for log in trail.logs:
        parts = log.split("/")
        by_ard[(parts[1], parts[3], "-".join(parts[4:7]))] += 1
    assert {
        (r["account"], r["region"], r["day"]): r["validated"] for r in rows if r["validated"]
    } == (dict(by_ard))
    assert report.bytes_hashed == sum((trail.root / log).stat().st_size for log in trail.logs)


def test_local_copy_without_signatures_still_checks_hashes_and_chain(trail: Trail):
    report = verify_trail(str(trail.root))  # no signatures: no key source is ever asked
    assert report.problems == 0 and report.outcome is Outcome.UNAUTHENTICATED
    assert not report.ok and report.authenticated == 0
    assert report.key_source is None and report.signature_source == "none"
    assert statuses(report) == {log: "unsigned" for log in trail.logs}
    assert {str(d.signature) for d in report.digests} == {"unavailable"}
    assert report.summary()["signatures"]["unavailable"] == len(trail.digests)

    # ... and still finds a modified file and a broken chain without them
    victim = _digest_with_logs(trail, index=1)
    log = sorted(trail.logs - trail.listed_in(victim))[3]
    _rewrite_content(
        trail.root / log, lambda raw: raw.replace(b'"eventName":"', b'"eventName":"X', 1)
    )
    (trail.root / victim).unlink()
    report = verify_trail(str(trail.root))
    assert not report.ok
    assert problems_only(report) == {
        log: "modified",
        **{x: "not_listed" for x in trail.listed_in(victim)},
    }
    assert [(b.at, b.expected_previous) for b in report.chain_breaks] == [
        (trail.successor(victim), victim)
    ]


# --------------------------------------------------------------------------- log files


def _rewrite_content(path: Path, change: Any) -> bytes:
    raw = gzip.decompress(path.read_bytes())
    new = change(raw)
    assert new != raw
    path.write_bytes(gzip.compress(new))
    return new


def test_one_changed_byte_in_a_log_is_reported_modified(trail: Trail, keys: StaticKeys):
    log = sorted(trail.logs)[5]
    raw = gzip.decompress((trail.root / log).read_bytes())
    at = raw.index(b'"sourceIPAddress":"') + len(b'"sourceIPAddress":"')
    new = _rewrite_content(trail.root / log, lambda r: r[:at] + bytes([r[at] ^ 0x01]) + r[at + 1 :])
    report = verify_signed(trail, keys)
    assert problems_only(report) == {log: "modified"}
    (result,) = [f for f in report.files if f.id == log]
    expected = next(
        f["hashValue"] for f in trail.digests[result.digest]["logFiles"] if f["s3Object"] == log
    )
    assert result.digest == trail.digest_of(log)
    assert result.expected_sha256 == expected == hashlib.sha256(raw).hexdigest()
    assert result.actual_sha256 == hashlib.sha256(new).hexdigest()
    assert report.problems == 1 and report.chain_breaks == []


def test_a_flipped_byte_in_the_stored_gzip_is_modified(trail: Trail, keys: StaticKeys):
    log = sorted(trail.logs)[2]
    path = trail.root / log
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the deflate stream: content or CRC no longer agree
    path.write_bytes(bytes(data))
    report = verify_signed(trail, keys)
    assert problems_only(report) == {log: "modified"}


def test_recompressing_a_log_changes_nothing(trail: Trail, keys: StaticKeys):
    """CloudTrail hashes the uncompressed content, so a re-gzipped copy is still valid."""
    log = sorted(trail.logs)[0]
    path = trail.root / log
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=9, mtime=1))
    assert verify_signed(trail, keys).ok


def test_deleted_log_is_reported_missing_with_its_digest(trail: Trail, keys: StaticKeys):
    log = sorted(trail.logs)[-4]
    (trail.root / log).unlink()
    report = verify_signed(trail, keys)
    assert problems_only(report) == {log: "missing"}
    (result,) = [f for f in report.files if f.id == log]
    assert result.digest == trail.digest_of(log)
    assert result.account == log.split("/")[1] and result.region == log.split("/")[3]


def plant_log(trail: Trail, account: str, region: str, at: dt.datetime, tag: str) -> str:
    """Write an (empty) log file delivered at ``at`` where CloudTrail would; its key back."""
    folder = trail.root / f"AWSLogs/{account}/CloudTrail/{region}/{at:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{account}_CloudTrail_{region}_{at:%Y%m%dT%H%M}Z_{tag:X<16}.json.gz"
    path.write_bytes(gzip.compress(b'{"Records":[]}'))
    return path.relative_to(trail.root).as_posix()


def test_log_in_no_digest_is_not_listed_and_a_late_one_is_pending(trail: Trail, keys: StaticKeys):
    sample = sorted(trail.logs)[0]
    account, region = sample.split("/")[1], sample.split("/")[3]
    day = dt.datetime.strptime("".join(sample.split("/")[4:7]), "%Y%m%d").replace(tzinfo=dt.UTC)
    slipped = plant_log(trail, account, region, day + dt.timedelta(hours=12), "slippedIn")
    # delivered after the newest digest of its account/region, as the copy ends: not covered
    # yet, not a problem
    chain = trail.chains()[(account, region)]
    last_end = dt.datetime.fromisoformat(trail.digests[chain[-1]]["digestEndTime"])
    late = plant_log(trail, account, region, last_end + dt.timedelta(minutes=5), "late")

    report = verify_signed(trail, keys)
    assert problems_only(report) == {slipped: "not_listed", late: "pending"}
    assert report.problems == 1 and report.chain_ends == []
    (span,) = [c for c in report.chains if (c.account, c.region) == (account, region)]
    assert span.last_end == trail.digests[chain[-1]]["digestEndTime"]
    assert span.first_start == trail.digests[chain[0]]["digestStartTime"]
    assert span.digests == len(chain)


# --------------------------------------------------------------------------- digests and chains


def _digest_with_logs(trail: Trail, index: int, account_region: int = 0) -> str:
    """A digest in the middle of a chain that lists at least one log file."""
    chain = sorted(trail.chains().items())[account_region][1]
    with_logs = [k for k in chain[1:-2] if trail.listed_in(k)]
    return with_logs[index]


def test_one_deleted_digest_breaks_the_chain_exactly_there(trail: Trail, keys: StaticKeys):
    victim = _digest_with_logs(trail, index=2)
    doc = trail.digests[victim]
    (trail.root / victim).unlink()
    report = verify_signed(trail, keys)

    (brk,) = report.chain_breaks
    assert brk.at == trail.successor(victim)
    assert brk.expected_previous == victim
    assert brk.reason == "previous digest missing"
    assert brk.last_intact == doc["previousDigestS3Object"]
    assert (brk.gap_start, brk.gap_end) == (doc["digestStartTime"], doc["digestEndTime"])
    # the files only the deleted digest vouched for are no longer listed anywhere
    assert problems_only(report) == {log: "not_listed" for log in trail.listed_in(victim)}
    assert report.problems == 1 + len(trail.listed_in(victim))
    assert sum(r["chain_breaks"] for r in report.by_day()) == 1


def test_two_consecutive_deleted_digests_are_one_break_spanning_both(
    trail: Trail, keys: StaticKeys
):
    first = _digest_with_logs(trail, index=1, account_region=3)
    second = trail.successor(first)
    for key in (first, second):
        (trail.root / key).unlink()
    report = verify_signed(trail, keys)

    (brk,) = report.chain_breaks
    assert brk.at == trail.successor(second)
    assert brk.expected_previous == second
    assert brk.last_intact == trail.digests[first]["previousDigestS3Object"]
    assert brk.gap_start == trail.digests[first]["digestStartTime"]
    assert brk.gap_end == trail.digests[second]["digestEndTime"]
    lost = trail.listed_in(first) | trail.listed_in(second)
    assert problems_only(report) == {log: "not_listed" for log in lost}


def test_a_digest_replaced_by_a_forged_one_is_caught(trail: Trail, keys: StaticKeys):
    """Dropping a log file from a digest changes the digest's hash and breaks its signature."""
    victim = _digest_with_logs(trail, index=0)
    doc = dict(trail.digests[victim])
    dropped = doc["logFiles"][0]["s3Object"]
    doc["logFiles"] = doc["logFiles"][1:]
    (trail.root / victim).write_bytes(gzip.compress(json.dumps(doc).encode()))
    report = verify_signed(trail, keys)

    bad = {d.id: d.signature for d in report.digests if not d.ok}
    assert bad == {victim: SignatureStatus.INVALID}
    (brk,) = report.chain_breaks
    assert (brk.at, brk.reason) == (trail.successor(victim), "previous digest modified")
    assert problems_only(report) == {
        dropped: "not_listed",
        **{log: "untrusted" for log in trail.listed_in(victim) - {dropped}},
    }


def test_a_moved_digest_is_reported(trail: Trail, keys: StaticKeys):
    victim = _digest_with_logs(trail, index=0)
    moved = victim.replace(".json.gz", "_copy.json.gz")
    (trail.root / victim).rename(trail.root / moved)
    report = verify_signed(trail, keys)
    (bad,) = [d for d in report.digests if not d.ok]
    assert bad.id == moved and bad.problems == (f"moved: digestS3Object is {victim}",)


def test_unreadable_digest_is_a_problem(trail: Trail, keys: StaticKeys):
    victim = _digest_with_logs(trail, index=0)
    (trail.root / victim).write_bytes(b"\x1f\x8b\x08\x00garbage")
    report = verify_signed(trail, keys)
    (bad,) = [d for d in report.digests if not d.ok]
    assert bad.id == victim and bad.signature is SignatureStatus.UNREADABLE
    assert bad.reason is not None and bad.reason.startswith("not a gzip file")


def test_swapped_key_makes_every_signature_invalid(trail: Trail):
    other = StaticKeys(
        [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()]
    )
    report = verify_signed(trail, other)
    assert {d.signature for d in report.digests} == {SignatureStatus.INVALID}
    assert {d.reason for d in report.digests} == {"signature does not match the digest"}
    assert statuses(report) == {log: "untrusted" for log in trail.logs}
    assert report.chain_breaks == []  # the links themselves are intact
    assert report.problems == len(trail.digests) + len(trail.logs)


def test_swapped_signature_between_digests_is_invalid(trail: Trail, keys: StaticKeys):
    a, b = sorted(trail.digests)[:2]
    meta = trail.metadata()
    meta[a], meta[b] = meta[b], meta[a]
    report = verify_trail(str(trail.root), signatures=meta, keys=keys)
    assert {d.id for d in report.digests if not d.ok} == {a, b}


def test_time_window_checks_only_that_window(trail: Trail, keys: StaticKeys):
    chain = sorted(trail.chains().items())[0][1]
    early = _digest_with_logs(trail, index=0)
    since = _t(trail.digests[chain[-3]]["digestStartTime"])
    assert _t(trail.digests[trail.successor(early)]["digestEndTime"]) < since
    (trail.root / early).unlink()  # a break in the morning ...
    report = verify_signed(trail, keys, since=since)  # ... is outside an evening window
    assert report.ok, report.to_json()

    # checked: files delivered in the window, and every file a digest reaching into it lists
    def delivered(log: str) -> dt.datetime:
        stamp = log.rsplit("_", 2)[-2]
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)

    reaching = [k for k, d in trail.digests.items() if _t(d["digestEndTime"]) >= since]
    expected = {log for log in trail.logs if delivered(log) >= since}
    expected |= {log for k in reaching for log in trail.listed_in(k)}
    assert statuses(report) == {log: "valid" for log in expected}
    assert {d.id for d in report.digests} == set(reaching)
    assert 0 < len(expected) < len(trail.logs)


# --------------------------------------------------------------------------- CloudTrail keys


def test_public_keys_come_from_list_public_keys_by_fingerprint(
    trail: Trail, signing_key: rsa.RSAPrivateKey
):
    import boto3
    from botocore.stub import Stubber

    from trailscope.integrity import CloudTrailKeys

    der = signing_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    fingerprint = hashlib.md5(der).hexdigest()
    assert {d["digestPublicKeyFingerprint"] for d in trail.digests.values()} == {fingerprint}

    # one window for all regions: from the first digest's start to the last one's end
    window = {
        "StartTime": min(_t(d["digestStartTime"]) for d in trail.digests.values()),
        "EndTime": max(_t(d["digestEndTime"]) for d in trail.digests.values()),
    }
    stubs = {}
    for region in REGIONS:
        client = boto3.client(
            "cloudtrail",
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stub = Stubber(client)
        entry = {"ValidityStartTime": window["StartTime"], "ValidityEndTime": window["EndTime"]}
        # two pages: the key that signed comes second, after a rotated-out one
        stub.add_response(
            "list_public_keys",
            {
                "PublicKeyList": [{**entry, "Value": other_der, "Fingerprint": "0" * 32}],
                "NextToken": "page-2",
            },
            window,
        )
        stub.add_response(
            "list_public_keys",
            {"PublicKeyList": [{**entry, "Value": der, "Fingerprint": fingerprint}]},
            {**window, "NextToken": "page-2"},
        )
        stub.activate()
        stubs[region] = (client, stub)

    report = verify_trail(
        str(trail.root),
        signatures=trail.metadata(),
        keys=CloudTrailKeys(lambda region: stubs[region][0]),
    )
    for _, stub in stubs.values():
        stub.assert_no_pending_responses()
    assert report.ok and report.key_source == "CloudTrail ListPublicKeys"
    assert {d.signature for d in report.digests} == {SignatureStatus.VALID}
    assert set(statuses(report).values()) == {"valid"}


def test_no_key_for_the_fingerprint_is_reported(trail: Trail):
    import boto3
    from botocore.stub import ANY, Stubber

    from trailscope.integrity import CloudTrailKeys

    client = boto3.client(
        "cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    for _ in range(2):
        stub.add_response(
            "list_public_keys", {"PublicKeyList": []}, {"StartTime": ANY, "EndTime": ANY}
        )
    stub.activate()
    report = verify_trail(
        str(trail.root), signatures=trail.metadata(), keys=CloudTrailKeys(lambda r: client)
    )
    fp = next(iter(trail.digests.values()))["digestPublicKeyFingerprint"]
    assert {(d.signature, d.reason) for d in report.digests} == {
        (SignatureStatus.NO_KEY, f"no public key with fingerprint {fp}")
    }


def test_unreachable_cloudtrail_is_one_clear_error(trail: Trail):
    import boto3
    from botocore.stub import ANY, Stubber

    from trailscope.integrity import CloudTrailKeys

    client = boto3.client(
        "cloudtrail", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_client_error(
        "list_public_keys",
        service_error_code="AccessDeniedException",
        service_message="not allowed",
        expected_params={"StartTime": ANY, "EndTime": ANY},
    )
    stub.activate()
    with pytest.raises(TrailscopeError) as info:
        verify_trail(
            str(trail.root), signatures=trail.metadata(), keys=CloudTrailKeys(lambda r: client)
        )
    assert info.value.message == (
        "cannot fetch CloudTrail public keys for eu-west-1: An error occurred "
        "(AccessDeniedException) when calling the ListPublicKeys operation: not allowed"
    )
    assert info.value.hint == (
        "to check signatures offline, pass the region's key with --public-key FILE.pem"
    )


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- the string to sign


def test_string_to_sign_follows_the_documented_format():
    from trailscope.integrity.digest import parse_digest

    doc = {
        "awsAccountId": "111122223333",
        "digestStartTime": "2015-08-17T14:01:31Z",
        "digestEndTime": "2015-08-17T15:01:31Z",
        "digestS3Bucket": "bucket",
        "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
        "111122223333_CloudTrail-Digest_us-east-2_trail_us-east-2_20150817T150131Z.json.gz",
        "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "previousDigestSignature": None,
        "logFiles": [],
    }
    raw = json.dumps(doc).encode()
    digest = parse_digest(doc["digestS3Object"], gzip.compress(raw))
    assert (
        digest.string_to_sign()
        == (
            f"2015-08-17T15:01:31Z\nbucket/{doc['digestS3Object']}\n"
            f"{hashlib.sha256(raw).hexdigest()}\nnull"
        ).encode()
    )
    doc["previousDigestSignature"] = "abcd"
    digest = parse_digest(doc["digestS3Object"], json.dumps(doc).encode())
    assert digest.string_to_sign().endswith(b"\nabcd")
    assert (digest.account, digest.region, digest.trail) == (
        "111122223333",
        "us-east-2",
        "trail_us-east-2",
    )


def test_public_keys_load_from_every_form_people_save_them_in(
    trail: Trail, signing_key: rsa.RSAPrivateKey
):
    import base64

    from trailscope.integrity.signing import load_public_key

    public = signing_key.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    forms = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        der,
        base64.b64encode(der) + b"\n",  # a ListPublicKeys "Value" as the AWS CLI prints it
    ]
    for form in forms:
        report = verify_trail(
            str(trail.root), signatures=trail.metadata(), keys=StaticKeys([load_public_key(form)])
        )
        assert report.ok and {d.signature for d in report.digests} == {SignatureStatus.VALID}
