"""What ``verify`` found, per file, per digest and per account/region/day.

Statuses are words a reader of the report acts on. A *problem* is anything that means a log may
have been altered, removed or slipped in; a signature that could not be checked (the local copy
lost S3's metadata) is reported as ``unavailable``, never as a failure.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FileStatus(StrEnum):
    """The verdict on one log file."""

    VALID = "valid"  # hash matches a digest whose signature is valid
    UNSIGNED = "unsigned"  # hash matches; the digest's signature could not be checked
    UNTRUSTED = "untrusted"  # hash matches, but the digest that lists it failed its own checks
    MODIFIED = "modified"  # present, hash differs from the digest's
    MISSING = "missing"  # listed in a digest, not found
    NOT_LISTED = "not_listed"  # present, but in no digest
    PENDING = "pending"  # delivered after the newest digest of its trail: not covered yet


class SignatureStatus(StrEnum):
    """The verdict on one digest's own signature."""

    VALID = "valid"
    INVALID = "invalid"  # does not verify with the region's key
    UNAVAILABLE = "unavailable"  # no signature known (a local copy loses S3 metadata)
    NO_KEY = "no_key"  # no public key for the digest's fingerprint
    UNREADABLE = "unreadable"  # the digest itself is not a readable digest


FILE_PROBLEMS = frozenset(
    {FileStatus.UNTRUSTED, FileStatus.MODIFIED, FileStatus.MISSING, FileStatus.NOT_LISTED}
)
SIGNATURE_PROBLEMS = frozenset(
    {SignatureStatus.INVALID, SignatureStatus.NO_KEY, SignatureStatus.UNREADABLE}
)


@dataclass(frozen=True, slots=True)
class FileResult:
    id: str  # key from AWSLogs/ on
    account: str | None
    region: str | None
    day: dt.date | None  # delivery day from the key
    status: FileStatus
    digest: str | None = None  # the digest that lists it
    expected_sha256: str | None = None
    actual_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class DigestResult:
    id: str
    account: str
    region: str
    day: dt.date  # the day of its end time (its folder)
    signature: SignatureStatus
    problems: tuple[str, ...] = ()  # e.g. moved from its original location
    log_files: int = 0
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.signature not in SIGNATURE_PROBLEMS and not self.problems


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """A digest whose link to its predecessor does not hold."""

    account: str
    region: str
    trail: str
    day: dt.date  # day of ``at``
    at: str  # the digest whose link is broken
    expected_previous: str  # what it names as its predecessor
    reason: str  # "previous digest missing" | "previous digest modified" | ...
    last_intact: str | None = None  # the newest digest before the gap that is present
    gap_start: str | None = None  # the time span no digest covers (missing digests)
    gap_end: str | None = None


@dataclass(frozen=True, slots=True)
class ChainSpan:
    """The time one trail's digests cover in an account and region."""

    account: str
    region: str
    trail: str
    first_start: str
    last_end: str
    digests: int


#: the per-day columns, in the order tables show them
DAY_COLUMNS = (
    "validated",
    "unsigned",
    "modified",
    "missing",
    "not_listed",
    "untrusted",
    "pending",
    "digests",
    "digest_problems",
    "signatures_unavailable",
    "chain_breaks",
)
_FILE_COLUMN = {
    FileStatus.VALID: "validated",
    FileStatus.UNSIGNED: "unsigned",
    FileStatus.MODIFIED: "modified",
    FileStatus.MISSING: "missing",
    FileStatus.NOT_LISTED: "not_listed",
    FileStatus.UNTRUSTED: "untrusted",
    FileStatus.PENDING: "pending",
}


@dataclass
class VerifyReport:
    source: str
    key_source: str | None  # where public keys came from; None when nothing needed checking
    signature_source: str  # "s3 metadata", "lake", "given", or "none"
    files: list[FileResult] = field(default_factory=list)
    digests: list[DigestResult] = field(default_factory=list)
    chain_breaks: list[ChainBreak] = field(default_factory=list)
    chain_starts: list[str] = field(default_factory=list)  # digests with no predecessor
    chains: list[ChainSpan] = field(default_factory=list)
    bytes_hashed: int = 0
    seconds: float = 0.0
    verified_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # -------------------------------------------------------------------------- verdicts

    def file_counts(self) -> Counter[str]:
        return Counter(str(f.status) for f in self.files)

    def signature_counts(self) -> Counter[str]:
        return Counter(str(d.signature) for d in self.digests)

    @property
    def problems(self) -> int:
        """How many findings mean the trail cannot be trusted as it is."""
        files = sum(1 for f in self.files if f.status in FILE_PROBLEMS)
        digests = sum(1 for d in self.digests if not d.ok)
        return files + digests + len(self.chain_breaks)

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def by_day(self) -> list[dict[str, Any]]:
        """One row per (account, region, day) with the counts of :data:`DAY_COLUMNS`."""
        rows: dict[tuple[str, str, str], Counter[str]] = {}

        def row(account: str | None, region: str | None, day: dt.date | None) -> Counter[str]:
            k = (account or "-", region or "-", day.isoformat() if day else "-")
            return rows.setdefault(k, Counter())

        for f in self.files:
            row(f.account, f.region, f.day)[_FILE_COLUMN[f.status]] += 1
        for d in self.digests:
            counts = row(d.account, d.region, d.day)
            counts["digests"] += 1
            if not d.ok:
                counts["digest_problems"] += 1
            if d.signature is SignatureStatus.UNAVAILABLE:
                counts["signatures_unavailable"] += 1
        for b in self.chain_breaks:
            row(b.account, b.region, b.day)["chain_breaks"] += 1
        return [
            {"account": a, "region": r, "day": day, **{c: counts[c] for c in DAY_COLUMNS}}
            for (a, r, day), counts in sorted(rows.items())
        ]

    def summary(self) -> dict[str, Any]:
        files = self.file_counts()
        sigs = self.signature_counts()
        return {
            "ok": self.ok,
            "problems": self.problems,
            "log_files": len(self.files),
            **{col: files[str(status)] for status, col in _FILE_COLUMN.items()},
            "digests": len(self.digests),
            "signatures": {str(s): sigs[str(s)] for s in SignatureStatus},
            "digest_problems": sum(1 for d in self.digests if not d.ok),
            "chain_breaks": len(self.chain_breaks),
            "chain_starts": len(self.chain_starts),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, for ``--json``: problems in full, healthy files only counted."""
        return {
            "source": self.source,
            "verified_at": self.verified_at.isoformat().replace("+00:00", "Z"),
            "seconds": round(self.seconds, 3),
            "bytes_hashed": self.bytes_hashed,
            "key_source": self.key_source,
            "signature_source": self.signature_source,
            "summary": self.summary(),
            "by_day": self.by_day(),
            "file_problems": [_file_json(f) for f in self.files if f.status in FILE_PROBLEMS],
            "digest_problems": [_digest_json(d) for d in self.digests if not d.ok],
            "chain_breaks": [_break_json(b) for b in self.chain_breaks],
            "chain_starts": self.chain_starts,
            "chains": [asdict(c) for c in self.chains],
        }


def _file_json(f: FileResult) -> dict[str, Any]:
    return {
        "object": f.id,
        "status": str(f.status),
        "digest": f.digest,
        "expected_sha256": f.expected_sha256,
        "actual_sha256": f.actual_sha256,
    }


def _digest_json(d: DigestResult) -> dict[str, Any]:
    return {
        "digest": d.id,
        "signature": str(d.signature),
        "problems": list(d.problems),
        "reason": d.reason,
    }


def _break_json(b: ChainBreak) -> dict[str, Any]:
    return {
        "account": b.account,
        "region": b.region,
        "trail": b.trail,
        "at": b.at,
        "expected_previous": b.expected_previous,
        "reason": b.reason,
        "last_intact": b.last_intact,
        "gap_start": b.gap_start,
        "gap_end": b.gap_end,
    }
