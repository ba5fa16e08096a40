"""``verify``: check a trail's log files against its signed digests, as CloudTrail intends.

Order of work: list logs and digests (one day of margin around the window, so a digest or a
predecessor just across midnight is seen), read and parse the digests, fetch their signatures
(S3 metadata, else what a lake kept at ingest), check signatures and chains, check that every
chain reaches the end of the time checked, then hash every log file a digest lists or that is
present. Reading and hashing run in threads: S3 reads wait on the network, and zlib and
hashlib release the GIL.

The end of the time checked (:func:`expected_until`) is what an attacker who deletes the newest
digests together with their log files cannot hide from: ``as_of`` when given (when a copy was
taken), else ``until`` (at most now), else now for a bucket (``s3://``), else the newest digest
or log file the copy holds, since nothing says when a local copy was made.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from trailscope.errors import SourceReadError, TrailscopeError
from trailscope.integrity.chain import CHAIN_END_GRACE, check_chain_ends, check_chains
from trailscope.integrity.digest import (
    SIGNATURE_ALGORITHM,
    Digest,
    DigestFormatError,
    LogFileEntry,
    content_sha256,
    log_delivery_time,
    parse_digest,
    trail_id,
)
from trailscope.integrity.keys import CloudTrailKeys, KeySource
from trailscope.integrity.report import (
    FUTURE,
    MOVED,
    DigestResult,
    FileResult,
    FileStatus,
    SignatureStatus,
    VerifyReport,
)
from trailscope.integrity.signing import signature_valid
from trailscope.lake.batch import object_id
from trailscope.sources import ListFilter, ObjectKind, Source, SourceObject, open_source

#: ``progress(done, total)`` over the log files hashed
ProgressFn = Callable[[int, int], None]
Signatures = Mapping[str, Mapping[str, str]]
_ONE_DAY = dt.timedelta(days=1)
_In = TypeVar("_In")
_Out = TypeVar("_Out")
#: CloudTrail writes a digest every hour and delivers it within the next one: a file delivered
#: after the newest digest stays "pending" until this long before the end of the time checked;
#: after that a later digest should list it, so its absence is a problem, not a delay.
PENDING_GRACE = CHAIN_END_GRACE
#: Clock difference tolerated before a digest or log file counts as dated in the future.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Window:
    """The time a run is about; ``None`` ends are open."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def covers(self, moment: dt.datetime | None) -> bool:
        if moment is None:
            return True
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment <= self.until

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        if self.since is not None and end < self.since:
            return False
        return self.until is None or start <= self.until


def verify_trail(
    source: Source | str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    accounts: Iterable[str] = (),
    regions: Iterable[str] = (),
    keys: KeySource | None = None,
    signatures: Signatures | None = None,
    signature_source: str = "given",
    profile: str | None = None,
    endpoint_url: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    as_of: dt.datetime | None = None,
    require_signatures: bool = False,
    now: dt.datetime | None = None,
) -> VerifyReport:
    """Validate the log files and digests of ``source`` (a local copy or ``s3://``).

    Signatures come from S3 metadata when the source has it, else from ``signatures`` (by object
    id, the key from ``AWSLogs/`` on: what :meth:`Lake.digest_signatures` returns). ``keys``
    defaults to CloudTrail's ``ListPublicKeys`` with ``profile``; it is only asked when there
    is a signature to check.

    :param as_of: when the copy was taken: every chain must reach it (see
        :func:`expected_until` for the default).
    :param require_signatures: a digest whose signature could not be checked makes the run
        :attr:`~trailscope.integrity.report.Outcome.UNAUTHENTICATED`.
    :param now: the time of the check (default: the clock); later digests and log files are
        dated in the future.
    """
    started = time.monotonic()
    clock = now or dt.datetime.now(dt.UTC)
    src = (
        open_source(source, profile=profile, endpoint_url=endpoint_url)
        if isinstance(source, str)
        else source
    )
    window = Window(since, until)
    flt = ListFilter(
        since=since,
        until=until,
        accounts=frozenset(accounts),
        regions=frozenset(regions),
        kinds=frozenset({ObjectKind.LOG, ObjectKind.DIGEST}),
        margin_days=1,
    )
    threads = workers or (16 if src.has_metadata else max(2, os.cpu_count() or 2))
    logs: dict[str, SourceObject] = {}
    digest_objects: list[SourceObject] = []
    for obj in src.iter_objects(flt):
        if obj.info.account is None:
            continue  # outside an AWSLogs layout: no digest can name it
        if obj.info.kind is ObjectKind.DIGEST:
            digest_objects.append(obj)
        else:
            logs[object_id(obj)] = obj
    if not logs and not digest_objects:
        where = " in the chosen window" if window.since or window.until else ""
        raise TrailscopeError(
            f"nothing to verify: no CloudTrail log or digest files under {src.uri}{where}",
            hint="point at the trail bucket (or its copy) holding AWSLogs/<account>/CloudTrail/"
            " and CloudTrail-Digest/ folders",
        )

    run = _Run(src, window, threads, clock)
    run.read_digests(digest_objects)
    report = VerifyReport(
        source=src.uri,
        key_source=None,
        signature_source="none",
        verified_at=clock,
        require_signatures=require_signatures,
    )
    scope = run.digests_in_scope(logs)
    sigs, report.signature_source = run.signatures(signatures, signature_source, scope)
    report.digests = run.check_digests(scope, sigs, keys, profile)
    if run.key_source is not None:
        report.key_source = run.key_source
    chains = check_chains(
        run.digests.values(),
        {i: s["signature"] for i, s in sigs.items() if s.get("signature")},
        in_scope=lambda d: d.id in scope,
        authentic={r.id for r in report.digests if r.signature is SignatureStatus.VALID},
    )
    report.chain_breaks, report.chain_starts, report.chains = (
        chains.breaks,
        chains.starts,
        chains.spans,
    )
    report.logging_pauses = chains.pauses
    reach, reference = expected_until(
        src.uri, run.digests.values(), logs.values(), as_of=as_of, until=until, now=clock
    )
    run.reach = reach
    report.chain_ends = check_chain_ends(
        run.digests.values(), reach, reference, latest=clock + CLOCK_SKEW
    )
    report.files, report.bytes_hashed = run.check_files(logs, scope, report.digests, progress)
    report.seconds = time.monotonic() - started
    return report


def expected_until(
    uri: str,
    digests: Iterable[Digest],
    logs: Iterable[SourceObject],
    *,
    as_of: dt.datetime | None,
    until: dt.datetime | None,
    now: dt.datetime,
) -> tuple[dt.datetime, str]:
    """The time every chain should reach, and what it is in words.

    ``as_of`` (when the copy was taken) wins; else ``until`` (no later than now); else now for
    a bucket, which CloudTrail is still writing to; else, for a local copy, the newest digest
    or log file in it (nothing dated in the future counts), which is the latest moment the copy
    proves it was taken at: a chain ending hours before its siblings then stands out.
    """
    if as_of is not None:
        return min(as_of, now), "--as-of"
    if until is not None:
        return (until, "--until") if until <= now else (now, "now")
    if uri.startswith("s3://"):
        return now, "now"
    latest = now - _ONE_DAY * 365_000  # before any evidence
    what = ""
    for d in digests:
        if latest < d.end <= now + CLOCK_SKEW:
            latest, what = d.end, d.id
    for obj in logs:
        delivered = _delivered(obj)
        if delivered is not None and latest < delivered <= now + CLOCK_SKEW:
            latest, what = delivered, object_id(obj)
    if not what:
        return now, "now"
    return latest, f"the newest file of the copy ({what})"


class _Run:
    """State shared by the steps of one verification."""

    def __init__(self, source: Source, window: Window, threads: int, now: dt.datetime) -> None:
        self.source = source
        self.window = window
        self.threads = threads
        self.now = now
        #: the time every chain should reach (set once the chains are known)
        self.reach = now
        self.objects: dict[str, SourceObject] = {}
        self.digests: dict[str, Digest] = {}
        self.unreadable: dict[str, str] = {}
        self.key_source: str | None = None

    def _map(self, fn: Callable[[_In], _Out], items: Iterable[_In]) -> list[_Out]:
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(fn, items))

    # ----------------------------------------------------------------------- digests

    def read_digests(self, objects: list[SourceObject]) -> None:
        def read(obj: SourceObject) -> tuple[str, Digest | str]:
            try:
                return object_id(obj), parse_digest(object_id(obj), self.source.read(obj))
            except (DigestFormatError, SourceReadError) as exc:
                return object_id(obj), str(getattr(exc, "reason", exc))

        for obj in objects:
            self.objects[object_id(obj)] = obj
        for oid, result in self._map(read, objects):
            if isinstance(result, Digest):
                self.digests[oid] = result
            else:
                self.unreadable[oid] = result

    def signatures(
        self, given: Signatures | None, given_source: str, scope: set[str]
    ) -> tuple[dict[str, dict[str, str]], str]:
        """Signatures by digest id, and where they came from.

        Only digests in scope and their predecessors (whose signature the chain check compares)
        cost a metadata request each.
        """
        found: dict[str, dict[str, str]] = {}
        origin = "none"
        if given:
            found.update({k: dict(v) for k, v in given.items() if v.get("signature")})
            origin = given_source
        if self.source.has_metadata:

            def head(oid: str) -> tuple[str, dict[str, str]]:
                try:
                    return oid, self.source.read_metadata(self.objects[oid])
                except SourceReadError:
                    return oid, {}

            wanted = {i for i in scope if i in self.digests}
            wanted |= {p for i in wanted if (p := self.digests[i].previous_id) in self.digests}
            for oid, meta in self._map(head, sorted(wanted)):
                if meta.get("signature"):
                    found[oid] = meta
            origin = "s3 metadata" if origin == "none" else f"s3 metadata, {origin}"
        return found, origin

    def digests_in_scope(self, logs: Mapping[str, SourceObject]) -> set[str]:
        """Digests overlapping the window, plus any that list a log file in it."""
        scope = {d.id for d in self.digests.values() if self.window.overlaps(d.start, d.end)}
        for oid in self.unreadable:
            start = _day_start(self.objects[oid].info.day)
            if start is None or self.window.overlaps(start, start + _ONE_DAY):
                scope.add(oid)
        if self.window.since is None and self.window.until is None:
            return scope
        for d in self.digests.values():
            if d.id not in scope and any(
                e.id in logs and self.window.covers(_delivered(logs[e.id])) for e in d.logs
            ):
                scope.add(d.id)
        return scope

    def check_digests(
        self,
        scope: set[str],
        sigs: Mapping[str, Mapping[str, str]],
        keys: KeySource | None,
        profile: str | None,
    ) -> list[DigestResult]:
        signed = [d for d in self.digests.values() if d.id in scope and d.id in sigs]
        if signed and keys is None:
            keys = CloudTrailKeys.from_profile(profile)
        if keys is not None and signed:
            self.key_source = keys.description
            span = (min(d.start for d in signed), max(d.end for d in signed))
            for region in sorted({d.region for d in signed}):
                keys.load(region, *span)
        results = []
        for oid in sorted(scope):
            obj = self.objects[oid]
            if oid in self.unreadable:
                results.append(
                    DigestResult(
                        oid,
                        obj.info.account or "",
                        obj.info.region or "",
                        obj.info.day or dt.date.min,
                        SignatureStatus.UNREADABLE,
                        reason=self.unreadable[oid],
                    )
                )
                continue
            d = self.digests[oid]
            status, reason = self._signature(d, sigs.get(oid), keys)
            problems = []
            if trail_id(d.key) != d.id:
                problems.append(f"{MOVED}: digestS3Object is {d.key}")
            if d.end > self.now + CLOCK_SKEW:
                problems.append(
                    f"{FUTURE}: it ends {_iso(d.end)}, after the time of the check "
                    f"({_iso(self.now)})"
                )
            results.append(
                DigestResult(
                    oid,
                    d.account,
                    d.region,
                    obj.info.day or d.end.date(),
                    status,
                    tuple(problems),
                    len(d.logs),
                    reason,
                )
            )
        return results

    def _signature(
        self, d: Digest, meta: Mapping[str, str] | None, keys: KeySource | None
    ) -> tuple[SignatureStatus, str | None]:
        if not meta or not meta.get("signature"):
            return SignatureStatus.UNAVAILABLE, None
        algorithm = meta.get("signature-algorithm") or d.algorithm
        if algorithm != SIGNATURE_ALGORITHM or d.algorithm != SIGNATURE_ALGORITHM:
            return SignatureStatus.INVALID, f"unsupported signature algorithm {algorithm}"
        assert keys is not None
        # CloudTrail signs each region's digests with that region's own key.
        candidates = list(keys.candidates(d.region, d.fingerprint))
        if not candidates:
            return SignatureStatus.NO_KEY, f"no public key with fingerprint {d.fingerprint}"
        message = d.string_to_sign()
        if any(signature_valid(k, meta["signature"], message) for k in candidates):
            return SignatureStatus.VALID, None
        return SignatureStatus.INVALID, "signature does not match the digest"

    # ----------------------------------------------------------------------- log files

    def check_files(
        self,
        logs: Mapping[str, SourceObject],
        scope: set[str],
        digest_results: list[DigestResult],
        progress: ProgressFn | None,
    ) -> tuple[list[FileResult], int]:
        trusted = {r.id: r for r in digest_results}
        listed: dict[str, tuple[LogFileEntry, Digest]] = {}
        newest: dict[tuple[str, str], dt.datetime] = {}
        for d in sorted(self.digests.values(), key=lambda d: (d.backfill, d.end, d.id)):
            ar = (d.account, d.region)
            newest[ar] = max(newest.get(ar, d.end), d.end)
            for e in d.logs:
                listed.setdefault(e.id, (e, d))
        in_window = {oid for oid, obj in logs.items() if self.window.covers(_delivered(obj))}
        wanted = sorted(in_window | {oid for oid, (_, d) in listed.items() if d.id in scope})
        results: list[FileResult] = []
        to_hash: list[tuple[str, SourceObject, LogFileEntry, Digest]] = []
        for oid in wanted:
            obj = logs.get(oid)
            entry = listed.get(oid)
            if entry is None:
                assert obj is not None
                last = newest.get((obj.info.account or "", obj.info.region or ""))
                results.append(_result(oid, obj, self._unlisted(_delivered(obj), last)))
            elif obj is None:
                e, d = entry
                results.append(_listed_missing(e, d))
            else:
                to_hash.append((oid, obj, *entry))
        done = 0
        total_bytes = 0

        def hash_one(item: tuple[str, SourceObject, LogFileEntry, Digest]) -> FileResult:
            oid, obj, e, d = item
            try:
                data = self.source.read(obj)
            except SourceReadError:
                return _listed_missing(e, d)
            try:
                actual = content_sha256(data)
            except zlib.error:  # a damaged gzip is a modified file
                actual = "undecodable gzip"
            verdict = trusted.get(d.id)
            if actual != e.hash_value:
                status = FileStatus.MODIFIED
            elif verdict is not None and not verdict.ok:
                status = FileStatus.UNTRUSTED
            elif verdict is not None and verdict.signature is SignatureStatus.VALID:
                status = FileStatus.VALID
            else:
                status = FileStatus.UNSIGNED
            return _result(oid, obj, status, d.id, e.hash_value, actual)

        if progress:
            progress(0, len(to_hash))
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for result in pool.map(hash_one, to_hash):
                results.append(result)
                done += 1
                if progress and (done % 256 == 0 or done == len(to_hash)):
                    progress(done, len(to_hash))
        total_bytes = sum(obj.size for _, obj, _, _ in to_hash)
        results.sort(key=lambda r: r.id)
        return results, total_bytes

    def _unlisted(self, delivered: dt.datetime | None, last: dt.datetime | None) -> FileStatus:
        """The verdict on a log file no digest lists, delivered at ``delivered``, when the
        newest digest of its account and region ends at ``last``."""
        if delivered is not None and delivered > self.now + CLOCK_SKEW:
            return FileStatus.FUTURE_DATED
        if last is None or delivered is None or delivered < _minute(last):
            return FileStatus.NOT_LISTED  # inside the time the digests cover (or none do)
        if self.reach <= delivered + PENDING_GRACE:
            return FileStatus.PENDING  # the digest that will list it is not due yet
        return FileStatus.AFTER_LAST_DIGEST


def _result(
    oid: str,
    obj: SourceObject,
    status: FileStatus,
    digest: str | None = None,
    expected: str | None = None,
    actual: str | None = None,
) -> FileResult:
    i = obj.info
    return FileResult(oid, i.account, i.region, i.day, status, digest, expected, actual)


def _listed_missing(e: LogFileEntry, d: Digest) -> FileResult:
    from trailscope.sources import classify_key

    info = classify_key(e.id)
    return FileResult(
        e.id,
        info.account or d.account,
        info.region or d.region,
        info.day,
        FileStatus.MISSING,
        d.id,
        e.hash_value,
        None,
    )


def _delivered(obj: SourceObject) -> dt.datetime | None:
    return log_delivery_time(obj.key) or _day_start(obj.info.day)


def _day_start(day: dt.date | None) -> dt.datetime | None:
    if day is None:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
