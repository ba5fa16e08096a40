"""What ``verify`` found, per file, per digest, per chain and per account/region/day.

Statuses are words a reader of the report acts on. A *problem* is anything that means a log may
have been altered, removed or slipped in; each has its own kind (:class:`ProblemKind`). A
signature that could not be checked (a local copy loses S3's metadata) is not a problem, but a
run that authenticated nothing has its own outcome (:attr:`VerifyReport.outcome`): hashes and
links that match prove nothing when whoever could change the logs could change the digests too.
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
    #: delivered after the newest digest, long enough before the end of the checked time that
    #: a digest should list it: the digests after the last one present are gone
    AFTER_LAST_DIGEST = "after_last_digest"
    FUTURE_DATED = "future_dated"  # its name says it was delivered after the time of the check


class SignatureStatus(StrEnum):
    """The verdict on one digest's own signature."""

    VALID = "valid"
    INVALID = "invalid"  # does not verify with the region's key
    UNAVAILABLE = "unavailable"  # no signature known (a local copy loses S3 metadata)
    NO_KEY = "no_key"  # no public key for the digest's fingerprint
    UNREADABLE = "unreadable"  # the digest itself is not a readable digest


FILE_PROBLEMS = frozenset(
    {
        FileStatus.UNTRUSTED,
        FileStatus.MODIFIED,
        FileStatus.MISSING,
        FileStatus.NOT_LISTED,
        FileStatus.AFTER_LAST_DIGEST,
        FileStatus.FUTURE_DATED,
    }
)
SIGNATURE_PROBLEMS = frozenset(
    {SignatureStatus.INVALID, SignatureStatus.NO_KEY, SignatureStatus.UNREADABLE}
)


class ProblemKind(StrEnum):
    """Every kind of problem ``verify`` reports, one word each (counted in the summary)."""

    # log files: the FILE_PROBLEMS statuses
    MODIFIED = "modified"
    MISSING = "missing"
    NOT_LISTED = "not_listed"
    UNTRUSTED = "untrusted"
    AFTER_LAST_DIGEST = "after_last_digest"
    FUTURE_LOG = "future_dated_log"
    # digests
    SIGNATURE_INVALID = "signature_invalid"
    NO_KEY = "no_key"
    UNREADABLE_DIGEST = "unreadable_digest"
    MOVED_DIGEST = "moved_digest"
    FUTURE_DIGEST = "future_dated_digest"
    # links between digests
    PREVIOUS_MISSING = "previous_digest_missing"
    PREVIOUS_MODIFIED = "previous_digest_modified"
    PREVIOUS_SIGNATURE = "previous_signature_differs"
    FOREIGN_PREVIOUS = "previous_digest_of_another_chain"
    DISCONTIGUOUS = "previous_digest_not_adjacent"
    FORK = "chain_fork"
    # whole chains
    CHAIN_ENDS_EARLY = "chain_ends_early"


_FILE_KINDS = {
    FileStatus.MODIFIED: ProblemKind.MODIFIED,
    FileStatus.MISSING: ProblemKind.MISSING,
    FileStatus.NOT_LISTED: ProblemKind.NOT_LISTED,
    FileStatus.UNTRUSTED: ProblemKind.UNTRUSTED,
    FileStatus.AFTER_LAST_DIGEST: ProblemKind.AFTER_LAST_DIGEST,
    FileStatus.FUTURE_DATED: ProblemKind.FUTURE_LOG,
}
_SIGNATURE_KINDS = {
    SignatureStatus.INVALID: ProblemKind.SIGNATURE_INVALID,
    SignatureStatus.NO_KEY: ProblemKind.NO_KEY,
    SignatureStatus.UNREADABLE: ProblemKind.UNREADABLE_DIGEST,
}
#: Prefixes of DigestResult.problems, by kind.
MOVED = "moved"
FUTURE = "future-dated"


class Outcome(StrEnum):
    """How a run ended, for exit codes and scripts."""

    OK = "ok"  # no problem, and what had to be authenticated was
    PROBLEMS = "problems"  # at least one problem
    UNAUTHENTICATED = "unauthenticated"  # no problem found, but nothing (or not all) proven


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

    @property
    def kinds(self) -> list[ProblemKind]:
        out = [_SIGNATURE_KINDS[self.signature]] if self.signature in _SIGNATURE_KINDS else []
        for problem in self.problems:
            out.append(
                ProblemKind.MOVED_DIGEST if problem.startswith(MOVED) else ProblemKind.FUTURE_DIGEST
            )
        return out


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """A digest whose link to its predecessor does not hold (``kind`` says how)."""

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
    kind: ProblemKind = ProblemKind.PREVIOUS_MISSING


@dataclass(frozen=True, slots=True)
class ChainEnd:
    """A chain whose newest digest ends well before the time the check is about: the digests
    after it, and the log files they listed, may have been deleted together."""

    account: str
    region: str
    trail: str
    last_digest: str
    last_end: str  # when the newest digest present ends
    expected_until: str  # the time every chain should reach
    reference: str  # what that time is: "now", "--until", "--as-of", or the newest evidence
    hours_short: float


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
    "after_last_digest",
    "future_dated",
    "digests",
    "digest_problems",
    "signatures_unavailable",
    "chain_breaks",
    "chain_ends",
)
_FILE_COLUMN = {
    FileStatus.VALID: "validated",
    FileStatus.UNSIGNED: "unsigned",
    FileStatus.MODIFIED: "modified",
    FileStatus.MISSING: "missing",
    FileStatus.NOT_LISTED: "not_listed",
    FileStatus.UNTRUSTED: "untrusted",
    FileStatus.PENDING: "pending",
    FileStatus.AFTER_LAST_DIGEST: "after_last_digest",
    FileStatus.FUTURE_DATED: "future_dated",
}


@dataclass
class VerifyReport:
    """What a verification found: each log file's and digest's verdict, the chains, and
    the outcome (``ok``, ``problems`` or ``unauthenticated``)."""

    source: str
    key_source: str | None  # where public keys came from; None when nothing needed checking
    signature_source: str  # "s3 metadata", "lake", "given", or "none"
    files: list[FileResult] = field(default_factory=list)
    digests: list[DigestResult] = field(default_factory=list)
    chain_breaks: list[ChainBreak] = field(default_factory=list)
    chain_starts: list[str] = field(default_factory=list)  # digests with no predecessor
    chains: list[ChainSpan] = field(default_factory=list)
    chain_ends: list[ChainEnd] = field(default_factory=list)  # chains that stop too early
    #: links over a time no digest covers whose digest CloudTrail signed: logging was off
    logging_pauses: list[ChainBreak] = field(default_factory=list)
    bytes_hashed: int = 0
    seconds: float = 0.0
    verified_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: with --require-signatures, any digest not authenticated makes the run unauthenticated
    require_signatures: bool = False

    # -------------------------------------------------------------------------- verdicts

    def file_counts(self) -> Counter[str]:
        """Log files by verdict (valid, modified, missing, ...)."""
        return Counter(str(f.status) for f in self.files)

    def signature_counts(self) -> Counter[str]:
        """Digests by what their signature check found."""
        return Counter(str(d.signature) for d in self.digests)

    def problem_counts(self) -> dict[str, int]:
        """How many problems of each kind (only kinds found)."""
        counts: Counter[str] = Counter()
        for f in self.files:
            if f.status in FILE_PROBLEMS:
                counts[_FILE_KINDS[f.status]] += 1
        for d in self.digests:
            counts.update(str(k) for k in d.kinds)
        counts.update(str(b.kind) for b in self.chain_breaks)
        counts[ProblemKind.CHAIN_ENDS_EARLY] += len(self.chain_ends)
        return {str(k): counts[k] for k in ProblemKind if counts[k]}

    @property
    def problems(self) -> int:
        """How many findings mean the trail cannot be trusted as it is."""
        files = sum(1 for f in self.files if f.status in FILE_PROBLEMS)
        digests = sum(1 for d in self.digests if not d.ok)
        return files + digests + len(self.chain_breaks) + len(self.chain_ends)

    @property
    def authenticated(self) -> int:
        """Digests whose signature was checked and is valid."""
        return sum(1 for d in self.digests if d.signature is SignatureStatus.VALID)

    @property
    def outcome(self) -> Outcome:
        """Problems first; then whether anything (with ``require_signatures``: everything)
        was authenticated."""
        if self.problems:
            return Outcome.PROBLEMS
        if not self.authenticated:
            return Outcome.UNAUTHENTICATED
        if self.require_signatures and self.authenticated < len(self.digests):
            return Outcome.UNAUTHENTICATED
        return Outcome.OK

    @property
    def ok(self) -> bool:
        """No problem, and the digests were proven authentic (see :attr:`outcome`)."""
        return self.outcome is Outcome.OK

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
        for c in self.chain_ends:
            row(c.account, c.region, dt.date.fromisoformat(c.last_end[:10]))["chain_ends"] += 1
        return [
            {"account": a, "region": r, "day": day, **{c: counts[c] for c in DAY_COLUMNS}}
            for (a, r, day), counts in sorted(rows.items())
        ]

    def summary(self) -> dict[str, Any]:
        """The counts a person reads first: files by verdict, signatures, problems."""
        files = self.file_counts()
        sigs = self.signature_counts()
        return {
            "ok": self.ok,
            "outcome": str(self.outcome),
            "problems": self.problems,
            "problem_kinds": self.problem_counts(),
            "authenticated_digests": self.authenticated,
            "require_signatures": self.require_signatures,
            "log_files": len(self.files),
            **{col: files[str(status)] for status, col in _FILE_COLUMN.items()},
            "digests": len(self.digests),
            "signatures": {str(s): sigs[str(s)] for s in SignatureStatus},
            "digest_problems": sum(1 for d in self.digests if not d.ok),
            "chain_breaks": len(self.chain_breaks),
            "chain_ends": len(self.chain_ends),
            "chain_starts": len(self.chain_starts),
            "logging_pauses": len(self.logging_pauses),
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
            "chain_ends": [asdict(c) for c in self.chain_ends],
            "chain_starts": self.chain_starts,
            "logging_pauses": [_break_json(b) for b in self.logging_pauses],
            "chains": [asdict(c) for c in self.chains],
        }


def _file_json(f: FileResult) -> dict[str, Any]:
    return {
        "object": f.id,
        "status": str(f.status),
        "kind": str(_FILE_KINDS[f.status]),
        "digest": f.digest,
        "expected_sha256": f.expected_sha256,
        "actual_sha256": f.actual_sha256,
    }


def _digest_json(d: DigestResult) -> dict[str, Any]:
    return {
        "digest": d.id,
        "signature": str(d.signature),
        "kinds": [str(k) for k in d.kinds],
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
        "kind": str(b.kind),
        "reason": b.reason,
        "last_intact": b.last_intact,
        "gap_start": b.gap_start,
        "gap_end": b.gap_end,
    }
