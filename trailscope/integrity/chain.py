"""Walking each trail's digest chain, per account and region, to find deleted, altered, spliced
or cut-short chains.

Every digest names its predecessor (key, SHA-256 of its content, its signature). A deleted
digest leaves its successor pointing at nothing; since the successor's signature covers the
predecessor's signature, the link can't be forged without the region's private key. Digests of
one chain are contiguous in time (each starts where the previous ended), so the span between the
newest intact digest and the one that points into the void is exactly what is unaccounted for,
however many digests were removed.

Where signatures are unavailable (a plain local copy), whoever can write the files can also
rewrite a link: point a digest past deleted ones at an older digest, or at a digest of another
region, account or trail whose hash they can copy. So a link also has to join the same chain
(account, region, trail) end to start, and no two digests may follow the same predecessor.
A link over a time no digest covers whose digest CloudTrail signed is CloudTrail's own: logging
was turned off meanwhile; it is reported as a pause, not a problem.

Deleting the newest digests together with their log files leaves no successor to notice:
:func:`check_chain_ends` compares where each chain ends with the time the check is about.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from trailscope.integrity.digest import Digest
from trailscope.integrity.report import ChainBreak, ChainEnd, ChainSpan, ProblemKind

MISSING = "previous digest missing"
MODIFIED = "previous digest modified"
SIGNATURE_MISMATCH = "previous digest signature differs"
FOREIGN = "previous digest belongs to another chain"
DISCONTIGUOUS = "previous digest does not end where this one starts"
FORK = "another digest follows the same previous digest"
PAUSED = "no digest covers this time (logging was off)"
_KINDS = {
    MISSING: ProblemKind.PREVIOUS_MISSING,
    MODIFIED: ProblemKind.PREVIOUS_MODIFIED,
    SIGNATURE_MISMATCH: ProblemKind.PREVIOUS_SIGNATURE,
    FOREIGN: ProblemKind.FOREIGN_PREVIOUS,
    DISCONTIGUOUS: ProblemKind.DISCONTIGUOUS,
    FORK: ProblemKind.FORK,
}
#: How far one digest's start may sit from its predecessor's end (both are whole seconds).
ADJACENT = dt.timedelta(seconds=1)
#: CloudTrail writes a digest every hour and delivers it within the next: a chain whose newest
#: digest ends longer than this before the time checked is missing its last digests.
CHAIN_END_GRACE = dt.timedelta(hours=2)


@dataclass
class ChainCheck:
    """What :func:`check_chains` found."""

    breaks: list[ChainBreak] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # digests with no predecessor
    spans: list[ChainSpan] = field(default_factory=list)  # the time each chain covers
    pauses: list[ChainBreak] = field(default_factory=list)  # signed links over a gap in time


def check_chains(
    digests: Iterable[Digest],
    signatures: Mapping[str, str],
    in_scope: Callable[[Digest], bool] = lambda d: True,
    authentic: frozenset[str] | set[str] = frozenset(),
) -> ChainCheck:
    """Breaks in the chains of ``digests`` (all listed ones, so a predecessor just outside the
    window still counts), reported only for digests ``in_scope``; the chains' first digests;
    and the time each chain covers (its end is the last moment the trail is proven complete).

    :param signatures: digest ids to their hex signatures, where known.
    :param authentic: ids of digests whose own signature was checked and is valid.
    """
    present = {d.id: d for d in digests}
    chains: dict[tuple[str, str, str], list[Digest]] = defaultdict(list)
    followers: dict[tuple[tuple[str, str, str], str], int] = defaultdict(int)
    for d in present.values():
        if not d.backfill:  # backfills add late files; they are not links of the chain
            chains[d.chain].append(d)
            if d.previous_id is not None:
                followers[(d.chain, d.previous_id)] += 1
    found = ChainCheck()
    for chain in chains.values():
        chain.sort(key=lambda d: (d.end, d.id))
        for i, d in enumerate(chain):
            if not in_scope(d):
                continue
            if d.previous_id is None:
                found.starts.append(d.id)
                continue
            prev = present.get(d.previous_id)
            reason = _link_problem(d, prev, signatures)
            if reason is None and followers[(d.chain, d.previous_id)] > 1:
                reason = FORK
            if reason is None:
                continue
            if reason == DISCONTIGUOUS and d.id in authentic:
                assert prev is not None
                found.pauses.append(_break(d, PAUSED, gap=(prev.end, d.start), last=prev))
                continue
            before = [p for p in chain[:i] if p.end <= d.start]
            intact = before[-1] if before else None
            if reason == MISSING:
                gap = (intact.end if intact else None, d.start)
                found.breaks.append(_break(d, reason, gap=gap, last=intact))
            elif reason == DISCONTIGUOUS:
                assert prev is not None
                found.breaks.append(_break(d, reason, gap=_ordered(prev.end, d.start), last=prev))
            else:
                found.breaks.append(_break(d, reason))
    found.starts.sort()
    found.breaks.sort(key=lambda b: (b.account, b.region, b.trail, b.at))
    found.pauses.sort(key=lambda b: (b.account, b.region, b.trail, b.at))
    found.spans = [
        ChainSpan(a, r, t, _iso(chain[0].start), _iso(chain[-1].end), len(chain))
        for (a, r, t), chain in sorted(chains.items())
    ]
    return found


def check_chain_ends(
    digests: Iterable[Digest], until: dt.datetime, reference: str, latest: dt.datetime
) -> list[ChainEnd]:
    """Chains whose newest digest ends more than :data:`CHAIN_END_GRACE` before ``until``.

    :param until: the time every chain should reach (the end of the check).
    :param reference: what ``until`` is, in words, for the report.
    :param latest: digests ending after this are dated in the future and do not count (one
        appended to a cut chain must not make it look whole).
    """
    last: dict[tuple[str, str, str], Digest] = {}
    for d in digests:
        if (
            not d.backfill
            and d.end <= latest
            and (d.chain not in last or d.end > last[d.chain].end)
        ):
            last[d.chain] = d
    ends = []
    for (account, region, trail), d in sorted(last.items()):
        if d.end + CHAIN_END_GRACE < until:
            short = (until - d.end).total_seconds() / 3600
            ends.append(
                ChainEnd(
                    account,
                    region,
                    trail,
                    d.id,
                    _iso(d.end),
                    _iso(until),
                    reference,
                    round(short, 1),
                )
            )
    return ends


def _link_problem(d: Digest, prev: Digest | None, signatures: Mapping[str, str]) -> str | None:
    if prev is None:
        return MISSING
    if (d.previous_hash or "").lower() != prev.sha256:
        return MODIFIED
    known = signatures.get(prev.id)
    if known is not None and (d.previous_signature or "").lower() != known.lower():
        return SIGNATURE_MISMATCH
    if prev.chain != d.chain:
        return FOREIGN
    if not prev.backfill and abs(d.start - prev.end) > ADJACENT:
        return DISCONTIGUOUS
    return None


def _break(
    d: Digest,
    reason: str,
    *,
    gap: tuple[dt.datetime | None, dt.datetime] | None = None,
    last: Digest | None = None,
) -> ChainBreak:
    start, end = gap if gap is not None else (None, None)
    return ChainBreak(
        account=d.account,
        region=d.region,
        trail=d.trail,
        day=d.end.date(),
        at=d.id,
        expected_previous=d.previous_id or "",
        reason=reason,
        last_intact=last.id if last is not None else None,
        gap_start=_iso(start) if start is not None else None,
        gap_end=_iso(end) if end is not None else None,
        kind=_KINDS.get(reason, ProblemKind.DISCONTIGUOUS),
    )


def _ordered(a: dt.datetime, b: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return (a, b) if a <= b else (b, a)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
