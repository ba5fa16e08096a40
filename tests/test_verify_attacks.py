"""What a careful attacker with write access to the log bucket (or to a copy of it) would try,
one test each, on trails the project's generator signs with a test key.

Each test first tampers the way the attacker would, so that the checks that existed before
(every listed file present and unchanged, every present file listed, every predecessor present
with its hash) all pass, then asserts the one problem kind that gives it away, and that nothing
else is reported. Expectations come from the files themselves (``gzip`` + ``json``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from test_verify import Trail, copy_trail, plant_log, problems_only
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.integrity import (
    Outcome,
    ProblemKind,
    SignatureStatus,
    StaticKeys,
    VerifyReport,
    verify_trail,
)
from trailscope.synth import synth_trail

REGIONS = ("us-east-1", "eu-west-1")
BUCKET = "aws-cloudtrail-logs-example"  # any: the signed string names the digest's own bucket


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, signing_key: rsa.RSAPrivateKey) -> Path:
    root = tmp_path_factory.mktemp("attacked-trail")
    synth_trail(
        root, events=1500, accounts=2, regions=REGIONS, days=1, signing_key=signing_key, seed=5
    )
    return root


@pytest.fixture
def trail(template: Path, tmp_path: Path) -> Trail:
    return copy_trail(template, tmp_path)


@pytest.fixture
def keys(signing_key: rsa.RSAPrivateKey) -> StaticKeys:
    return StaticKeys([signing_key.public_key()])


# --------------------------------------------------------------------------- the attacker's tools


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def content(trail: Trail, key: str) -> bytes:
    return gzip.decompress((trail.root / key).read_bytes())


def write_digest(trail: Trail, key: str, doc: dict[str, Any]) -> bytes:
    """Write a digest as CloudTrail would (gzipped compact JSON); its JSON bytes back."""
    raw = json.dumps(doc, separators=(",", ":")).encode()
    path = trail.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw))
    trail.digests[key] = doc
    return raw


def link_to(doc: dict[str, Any], trail: Trail, previous: str | None) -> None:
    """Point a digest at ``previous`` with its true hash and signature, as a real link."""
    doc["previousDigestS3Object"] = previous
    doc["previousDigestHashValue"] = (
        hashlib.sha256(content(trail, previous)).hexdigest() if previous else None
    )
    doc["previousDigestSignature"] = trail.signatures.get(previous) if previous else None


def sign(trail: Trail, key: str, raw: bytes, private: rsa.RSAPrivateKey) -> None:
    """Sign a digest as CloudTrail does (the string of AWS's "custom implementations" guide)."""
    doc = trail.digests[key]
    text = "\n".join(
        [
            doc["digestEndTime"],
            f"{doc['digestS3Bucket']}/{doc['digestS3Object']}",
            hashlib.sha256(raw).hexdigest(),
            doc["previousDigestSignature"] or "null",
        ]
    )
    trail.signatures[key] = private.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def unsign(trail: Trail, key: str) -> None:
    """A rewritten digest cannot carry a valid signature: the attacker drops it."""
    trail.signatures.pop(key, None)


def delete(trail: Trail, digests: list[str], *, with_logs: bool = True) -> set[str]:
    """Delete digests (and the log files only they list); the log files deleted back."""
    logs: set[str] = set()
    for key in digests:
        if with_logs:
            logs |= trail.listed_in(key)
        (trail.root / key).unlink()
        del trail.digests[key]
        unsign(trail, key)
    for log in logs:
        (trail.root / log).unlink()
        trail.logs.discard(log)
    return logs


def verify(trail: Trail, keys: StaticKeys, **kw: Any) -> VerifyReport:
    return verify_trail(str(trail.root), signatures=trail.metadata(), keys=keys, **kw)


def chain_of(trail: Trail, index: int) -> list[str]:
    return sorted(trail.chains().items())[index][1]


def newest_with_logs(trail: Trail, chain: list[str], at_least: int = 4) -> list[str]:
    """The newest digests of a chain, at least ``at_least`` and back to one listing logs."""
    last_listing = max(i for i, k in enumerate(chain) if trail.listed_in(k))
    return chain[min(last_listing, len(chain) - at_least) :]


# --------------------------------------------------------------------------- 1. spliced chains


@pytest.mark.parametrize("other", ["region", "account", "trail"])
def test_a_predecessor_from_another_chain_is_caught(
    trail: Trail, keys: StaticKeys, signing_key: rsa.RSAPrivateKey, other: str
):
    """The attacker deletes a digest and its log files, then points the next digest at a
    digest of another region, account or trail, with that digest's true hash: every link
    then exists and matches."""
    chain = chain_of(trail, 0)
    account, region = chain[0].split("/")[1], chain[0].split("/")[3]
    victim, last = chain[-2], chain[-1]  # the last digest has no successor to notice
    if other == "trail":
        doc = dict(trail.digests[victim])
        foreign = victim.replace("management-events", "another-trail")
        assert foreign != victim
        doc.update(
            digestS3Object=foreign, logFiles=[], digestEndTime=trail.digests[last]["digestEndTime"]
        )
        link_to(doc, trail, None)
        # a real digest of another trail in the same region, signed with the region's key
        sign(trail, foreign, write_digest(trail, foreign, doc), signing_key)
    else:
        siblings = {"region": 1, "account": 2}[other]
        foreign = chain_of(trail, siblings)[-2]
        assert (foreign.split("/")[1], foreign.split("/")[3]) != (account, region)
    delete(trail, [victim])
    doc = dict(trail.digests[last])
    link_to(doc, trail, foreign)
    write_digest(trail, last, doc)
    unsign(trail, last)

    report = verify(trail, keys)
    assert [(b.at, b.expected_previous, b.kind) for b in report.chain_breaks] == [
        (last, foreign, ProblemKind.FOREIGN_PREVIOUS)
    ]
    assert report.chain_breaks[0].reason == "previous digest belongs to another chain"
    assert report.problem_counts() == {"previous_digest_of_another_chain": 1}
    assert problems_only(report) == {}


def test_a_link_over_deleted_digests_that_does_not_join_end_to_start_is_caught(
    trail: Trail, keys: StaticKeys
):
    """Two digests and their logs deleted, the next one pointed at the one before them: the
    chain then has a hole in time that no digest covers."""
    chain = chain_of(trail, 1)
    before, gone, last = chain[-4], chain[-3:-1], chain[-1]
    delete(trail, gone)
    doc = dict(trail.digests[last])
    link_to(doc, trail, before)
    write_digest(trail, last, doc)
    unsign(trail, last)

    report = verify(trail, keys)
    (brk,) = report.chain_breaks
    assert (brk.at, brk.expected_previous, brk.kind) == (last, before, ProblemKind.DISCONTIGUOUS)
    assert (brk.gap_start, brk.gap_end) == (
        trail.digests[before]["digestEndTime"],
        trail.digests[last]["digestStartTime"],
    )
    assert report.problem_counts() == {"previous_digest_not_adjacent": 1}


def test_the_same_gap_signed_by_cloudtrail_is_a_logging_pause_not_a_problem(
    trail: Trail, keys: StaticKeys, signing_key: rsa.RSAPrivateKey
):
    """CloudTrail's own digest after logging was turned off and on names the digest before
    the pause: a link over a gap whose digest has a valid signature is reported, not failed."""
    chain = chain_of(trail, 1)
    before, gone, last = chain[-4], chain[-3:-1], chain[-1]
    delete(trail, gone)
    doc = dict(trail.digests[last])
    link_to(doc, trail, before)
    sign(trail, last, write_digest(trail, last, doc), signing_key)

    report = verify(trail, keys)
    assert report.outcome is Outcome.OK, report.to_json()
    (pause,) = report.logging_pauses
    assert (pause.at, pause.gap_start, pause.gap_end) == (
        last,
        trail.digests[before]["digestEndTime"],
        trail.digests[last]["digestStartTime"],
    )


def test_a_second_digest_after_the_same_predecessor_is_a_fork(trail: Trail, keys: StaticKeys):
    """A forged digest slipped in beside a real one, naming the same predecessor, vouches
    for a log file that no real digest lists."""
    chain = chain_of(trail, 0)
    real = chain[3]
    account, region = real.split("/")[1], real.split("/")[3]
    planted = plant_log(
        trail,
        account,
        region,
        _t(trail.digests[real]["digestStartTime"]) + dt.timedelta(minutes=7),
        "planted",
    )
    doc = json.loads(json.dumps(trail.digests[real]))
    # the same name one second later: a digest of the same trail, region and hour
    forged = real[:-10] + ("2" if real[-10] == "1" else "1") + real[-9:]
    assert forged != real and forged.endswith("Z.json.gz")
    doc["digestS3Object"] = forged
    doc["logFiles"].append(
        {
            "s3Bucket": doc["digestS3Bucket"],
            "s3Object": planted,
            "hashValue": hashlib.sha256(content(trail, planted)).hexdigest(),
            "hashAlgorithm": "SHA-256",
        }
    )
    write_digest(trail, forged, doc)

    report = verify(trail, keys)
    assert sorted((b.at, b.kind) for b in report.chain_breaks) == sorted(
        [(real, ProblemKind.FORK), (forged, ProblemKind.FORK)]
    )
    assert report.problem_counts() == {"chain_fork": 2}


# --------------------------------------------------------------------------- 2. cut chains


def test_a_chain_whose_newest_digests_were_deleted_with_their_logs_ends_before_its_siblings(
    trail: Trail, keys: StaticKeys
):
    chain = chain_of(trail, 2)
    cut = newest_with_logs(trail, chain)
    deleted_logs = delete(trail, cut)
    assert deleted_logs  # the attacker's activity went with them
    kept = chain[-len(cut) - 1]

    report = verify(trail, keys)
    # a local copy is checked up to its own newest file (nothing else says when it was taken)
    newest = max(
        [(d["digestEndTime"], k) for k, d in trail.digests.items()]
        + [(_iso(_delivered(log)), log) for log in trail.logs]
    )
    (end,) = report.chain_ends
    assert (end.last_digest, end.last_end) == (kept, trail.digests[kept]["digestEndTime"])
    assert (end.expected_until, end.reference) == (
        newest[0],
        f"the newest file of the copy ({newest[1]})",
    )
    assert end.hours_short > 3
    assert report.problem_counts() == {"chain_ends_early": 1}
    assert problems_only(report) == {} and report.chain_breaks == []


def test_a_copy_taken_later_than_its_newest_file_says_so_with_as_of(trail: Trail, keys: StaticKeys):
    """Cut every chain by the same hours: no sibling stands out, the time of the copy does."""
    for index in range(4):
        delete(trail, chain_of(trail, index)[-4:])
    assert verify(trail, keys).chain_ends == []  # nothing in the copy tells
    newest = max(_t(d["digestEndTime"]) for d in trail.digests.values())
    taken = newest + dt.timedelta(hours=4)
    report = verify(trail, keys, as_of=taken)
    assert len(report.chain_ends) == 4
    assert {(c.expected_until, c.reference) for c in report.chain_ends} == {
        (_iso(taken), "--as-of")
    }
    assert report.problem_counts() == {"chain_ends_early": 4}


def test_log_files_left_after_the_last_digest_when_it_is_long_past(trail: Trail, keys: StaticKeys):
    """The newest digests deleted, their log files kept: those files wait for a digest that
    should have come long ago, which is a problem, not 'pending'."""
    chain = chain_of(trail, 3)
    cut = newest_with_logs(trail, chain)
    orphans = set().union(*(trail.listed_in(k) for k in cut))
    delete(trail, cut, with_logs=False)

    report = verify(trail, keys)
    (end,) = report.chain_ends
    reach = _t(end.expected_until)
    found = problems_only(report)
    assert set(found) == orphans
    late = {log for log in orphans if _delivered(log) + dt.timedelta(hours=2) < reach}
    assert late and {k for k, v in found.items() if v == "after_last_digest"} == late
    assert {k for k, v in found.items() if v == "pending"} == orphans - late
    assert report.problem_counts() == {"after_last_digest": len(late), "chain_ends_early": 1}


def _delivered(log: str) -> dt.datetime:
    stamp = log.rsplit("_", 2)[-2]
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- 3. the future


def test_a_future_dated_digest_appended_to_a_cut_chain_is_caught(trail: Trail, keys: StaticKeys):
    """To hide a cut, the attacker appends a digest that claims to cover everything up to a
    far future day: it is dated after the check, and the chain still ends where it was cut."""
    chain = chain_of(trail, 0)
    delete(trail, chain[-4:])
    last = chain[-5]
    account, region = last.split("/")[1], last.split("/")[3]
    start = _t(trail.digests[last]["digestEndTime"])
    planted = plant_log(trail, account, region, start + dt.timedelta(minutes=10), "planted")
    end = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    doc = json.loads(json.dumps(trail.digests[last]))
    key = (
        last.rsplit("/", 4)[0]
        + f"/2099/01/01/{last.rsplit('/', 1)[1].rsplit('_', 1)[0]}_20990101T000000Z.json.gz"
    )
    doc.update(
        digestS3Object=key,
        digestStartTime=_iso(start),
        digestEndTime=_iso(end),
        logFiles=[
            {
                "s3Bucket": doc["digestS3Bucket"],
                "s3Object": planted,
                "hashValue": hashlib.sha256(content(trail, planted)).hexdigest(),
                "hashAlgorithm": "SHA-256",
            }
        ],
    )
    link_to(doc, trail, last)
    write_digest(trail, key, doc)

    report = verify(trail, keys)
    (bad,) = [d for d in report.digests if not d.ok]
    assert bad.id == key and bad.signature is SignatureStatus.UNAVAILABLE
    assert bad.kinds == [ProblemKind.FUTURE_DIGEST]
    assert bad.problems[0].startswith("future-dated: it ends 2099-01-01T00:00:00Z, after")
    (end_,) = report.chain_ends
    assert end_.last_digest == last
    assert problems_only(report) == {planted: "untrusted"}
    assert report.problem_counts() == {
        "untrusted": 1,
        "future_dated_digest": 1,
        "chain_ends_early": 1,
    }


def test_digests_and_logs_dated_after_the_check_are_caught(trail: Trail, keys: StaticKeys):
    """Checked three hours before the trail's newest digest ends: whatever is dated after the
    check cannot have been written by then."""
    newest = max(_t(d["digestEndTime"]) for d in trail.digests.values())
    now = newest - dt.timedelta(hours=3)
    account, region = next(iter(trail.chains()))
    stray = plant_log(trail, account, region, now + dt.timedelta(hours=1), "stray")
    report = verify(trail, keys, now=now)
    future = {
        k
        for k, d in trail.digests.items()
        if _t(d["digestEndTime"]) > now + dt.timedelta(minutes=5)
    }
    assert future and {d.id for d in report.digests if not d.ok} == future
    assert all(d.kinds == [ProblemKind.FUTURE_DIGEST] for d in report.digests if not d.ok)
    found = problems_only(report)
    assert found.pop(stray) == "future_dated"
    assert found == {log: "untrusted" for k in future for log in trail.listed_in(k)}


# --------------------------------------------------------------------------- 4. authenticated?


def test_partial_signatures_pass_unless_signatures_are_required(trail: Trail, keys: StaticKeys):
    stripped = sorted(trail.digests)[3]
    unsign(trail, stripped)
    report = verify(trail, keys)
    assert report.outcome is Outcome.OK and report.authenticated == len(trail.digests) - 1
    report = verify(trail, keys, require_signatures=True)
    assert report.outcome is Outcome.UNAUTHENTICATED and report.problems == 0
    assert report.summary()["require_signatures"] is True


def test_the_cli_reports_each_kind_and_exits_4(trail: Trail, tmp_path: Path):
    """Through the command: --as-of, the kinds in --json, and the terminal's one line each."""
    chain = chain_of(trail, 0)
    delete(trail, chain[-3:])
    newest = max(_t(d["digestEndTime"]) for d in trail.digests.values())
    taken = _iso(newest + dt.timedelta(hours=5))
    runner = CliRunner()
    result = runner.invoke(app, ["verify", str(trail.root), "--as-of", taken, "--json"])
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["outcome"] == "problems"
    assert data["summary"]["problem_kinds"] == {"chain_ends_early": 4}
    assert {c["reference"] for c in data["chain_ends"]} == {"--as-of"}
    result = runner.invoke(
        app, ["verify", str(trail.root), "--as-of", taken], env={"COLUMNS": "400"}
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("chain ends early")]
    assert len(lines) == 4 and all(f"before {taken} (--as-of)" in x for x in lines)
    assert result.stdout.splitlines()[-1] == "PROBLEMS: 4 found (4 chain_ends_early)"
