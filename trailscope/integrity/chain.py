"""Walking each trail's digest chain, per account and region, to find deleted or altered links.

Every digest names its predecessor (key, SHA-256 of its content, its signature). A deleted
digest leaves its successor pointing at nothing; since the successor's signature covers the
predecessor's signature, the link can't be forged without the region's private key. Digests of
one chain are contiguous in time (each starts where the previous ended), so the span between the
newest intact digest and the one that points into the void is exactly what is unaccounted for,
however many digests were removed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from trailscope.integrity.digest import Digest
from trailscope.integrity.report import ChainBreak, ChainSpan

MISSING = "previous digest missing"
MODIFIED = "previous digest modified"
SIGNATURE_MISMATCH = "previous digest signature differs"


def check_chains(
    digests: Iterable[Digest],
    signatures: Mapping[str, str],
    in_scope: Callable[[Digest], bool] = lambda d: True,
) -> tuple[list[ChainBreak], list[str], list[ChainSpan]]:
    """Breaks in the chains of ``digests`` (all listed ones, so a predecessor just outside the
    window still counts), reported only for digests ``in_scope``; the chains' first digests;
    and the time each chain covers (its end is the last moment the trail is proven complete).

    ``signatures`` maps digest ids to their hex signatures where known.
    """
    present = {d.id: d for d in digests}
    chains: dict[tuple[str, str, str], list[Digest]] = defaultdict(list)
    for d in present.values():
        if not d.backfill:  # backfills add late files; they are not links of the chain
            chains[d.chain].append(d)
    breaks: list[ChainBreak] = []
    starts: list[str] = []
    for chain in chains.values():
        chain.sort(key=lambda d: (d.end, d.id))
        for i, d in enumerate(chain):
            if not in_scope(d):
                continue
            if d.previous_id is None:
                starts.append(d.id)
                continue
            reason = _link_problem(d, present.get(d.previous_id), signatures)
            if reason is None:
                continue
            before = [p for p in chain[:i] if p.end <= d.start]
            intact = before[-1] if before else None
            breaks.append(
                ChainBreak(
                    account=d.account,
                    region=d.region,
                    trail=d.trail,
                    day=d.end.date(),
                    at=d.id,
                    expected_previous=d.previous_id,
                    reason=reason,
                    last_intact=intact.id if intact and reason == MISSING else None,
                    gap_start=_iso(intact.end) if intact and reason == MISSING else None,
                    gap_end=_iso(d.start) if reason == MISSING else None,
                )
            )
    starts.sort()
    breaks.sort(key=lambda b: (b.account, b.region, b.trail, b.at))
    spans = [
        ChainSpan(a, r, t, _iso(chain[0].start), _iso(chain[-1].end), len(chain))
        for (a, r, t), chain in sorted(chains.items())
    ]
    return breaks, starts, spans


def _link_problem(d: Digest, prev: Digest | None, signatures: Mapping[str, str]) -> str | None:
    if prev is None:
        return MISSING
    if (d.previous_hash or "").lower() != prev.sha256:
        return MODIFIED
    known = signatures.get(prev.id)
    if known is not None and (d.previous_signature or "").lower() != known.lower():
        return SIGNATURE_MISMATCH
    return None


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
