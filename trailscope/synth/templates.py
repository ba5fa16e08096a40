"""The everyday mix as byte templates: how millions of events are written quickly.

Each call keeps a small pool of variants per account and region, built once and serialised once
by orjson into a byte template with holes for the per-event values (identity of the hour,
eventTime, eventID, requestID, and a slot's value). An event is then one bytes-formatting
operation; nested structures are never copied.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import orjson

from trailscope.synth.catalogue.kind import Callers, Kind, RequestId, Scope, Slot
from trailscope.synth.clock import CLOCK_JSON, DAY, WINDOW, day_of
from trailscope.synth.events import EventFactory
from trailscope.synth.ids import uuids_json
from trailscope.synth.planner import FilePlan
from trailscope.synth.principals import Principal
from trailscope.synth.world import Account, World

_ERROR_VARIANTS = 4  # failing variants kept per call, account and region
# A variant is serialised with these sentinels, which then become ``%(u)b``-style holes filled
# per event by bytes formatting (far cheaper than a dict copy plus a serialisation per event).
_HOLE_KEYS = (b"u", b"t", b"e", b"r", b"s", b"x")


def to_template(
    event: dict[str, Any], request_id: RequestId, shared: bool, slot: Slot | None
) -> tuple[bytes, bool]:
    """Serialise a variant with holes for the per-event values; returns (template, has_slot)."""
    event = dict(event)
    event["userIdentity"] = "@@u@@"
    event["eventTime"] = "@@t@@"
    event["eventID"] = "@@e@@"
    if request_id in (RequestId.UUID, RequestId.S3):
        event["requestID"] = "@@r@@"
    if shared:
        event["sharedEventID"] = "@@s@@"
    has_slot = slot is not None and slot.hole(event)
    raw = orjson.dumps(event).replace(b"%", b"%%")
    for key in _HOLE_KEYS:
        raw = raw.replace(b'"@@' + key + b'@@"', b"%(" + key + b")b")
    return raw, has_slot


class Variant(NamedTuple):
    """One ready-made shape of a call: a template and what fills its holes."""

    template: bytes
    principal: Principal
    request_id: int  # a RequestId, as a plain int for the hot loop
    slot: Slot | None  # set only when the template has the slot's hole
    shared: bool  # carries a per-event sharedEventID


class VariantPool:
    """A call as available in one account/region, with its pools of ready variants."""

    __slots__ = ("callers", "error_rate", "failing", "kind", "request_id", "succeeding", "variants")

    def __init__(self, kind: Kind, callers: Callers) -> None:
        self.kind = kind
        self.callers = callers
        self.error_rate = kind.error_rate
        self.variants = kind.pooling.variants
        self.request_id = int(kind.pooling.request_id)
        self.succeeding: list[Variant] = []
        self.failing: list[Variant] = []


class GenericMix:
    """The everyday calls of every account and region, drawn from one seeded stream."""

    def __init__(self, world: World, factory: EventFactory, seed: int, kinds: list[Kind]) -> None:
        self.world = world
        self.factory = factory
        self.rng = random.Random(f"trailscope-synth:{seed}:events")
        self.tables = {
            (account.index, r): self._table(account, r, kinds)
            for account in world.accounts
            for r in range(len(world.regions))
        }

    def _table(
        self, account: Account, region_index: int, kinds: list[Kind]
    ) -> tuple[list[VariantPool], list[float]]:
        """The calls possible in one account/region with their cumulative weights."""
        world = self.world
        in_global_region = region_index == world.global_index
        pools: list[VariantPool] = []
        cumulative: list[float] = []
        total = 0.0
        for kind in kinds:
            if kind.scope == Scope.GLOBAL and not in_global_region:
                continue
            if kind.scope == Scope.MANAGEMENT and not (in_global_region and account.index == 0):
                continue
            if kind.scope == Scope.HAMMER and (account.index, region_index) != (
                world.hammer_account,
                world.hammer_region,
            ):
                continue
            callers = tuple(
                (pool, share) for pool, share in kind.callers if account.pools.get(pool)
            )
            if not callers:
                continue
            weight = kind.weight
            if kind.data and account.environment == "management":
                weight *= 0.2
            total += weight
            pools.append(VariantPool(kind, callers))
            cumulative.append(total)
        return pools, cumulative

    def _pick_principal(self, account: Account, callers: Callers) -> Principal:
        """Draw a caller: first the kind of caller (weighted), then one of that kind."""
        rng = self.rng
        x = rng.random() * sum(share for _, share in callers)
        chosen = callers[-1][0]
        for pool, share in callers:
            x -= share
            if x < 0:
                chosen = pool
                break
        principals = account.pools[chosen]
        return principals[int(rng.random() * len(principals))]

    def _variant(
        self, pool: VariantPool, account_index: int, region_index: int, time: int, fail: bool
    ) -> Variant:
        kind = pool.kind
        principal = self._pick_principal(self.world.accounts[account_index], pool.callers)
        event, shared = self.factory.compose(
            kind, account_index, region_index, time, principal, fail, self.rng
        )
        template, has_slot = to_template(event, kind.pooling.request_id, shared, kind.slot)
        slot = kind.slot if has_slot else None
        return Variant(template, principal, pool.request_id, slot, shared)

    def events_for(self, plan: FilePlan) -> list[tuple[int, bytes]]:
        """Serialised events of one file (generic ones generated here, scripted ones merged
        in), sorted by time."""
        rng = self.rng
        rand = rng.random
        bits = rng.getrandbits
        count = plan.generic
        out: list[tuple[int, bytes]] = []
        if count:
            pools, cumulative = self.tables[(plan.account, plan.region)]
            chosen = rng.choices(pools, cum_weights=cumulative, k=count)
            start = plan.window_start
            times = sorted([start + int(rand() * WINDOW) for _ in range(count)])
            day_start = start - start % DAY
            hour = start // 3600  # a five-minute window never spans two hours
            prefix = f'"{day_of(start).isoformat()}T'.encode()
            clock = CLOCK_JSON
            ids = uuids_json(rng, count + sum([p.request_id == 1 for p in chosen]))
            next_id = count
            a, r = plan.account, plan.region
            for j, pool, t in zip(range(count), chosen, times, strict=True):
                error_rate = pool.error_rate
                if error_rate and rand() < error_rate:
                    variants = pool.failing
                    if len(variants) < _ERROR_VARIANTS:
                        variants.append(self._variant(pool, a, r, t, True))
                else:
                    variants = pool.succeeding
                    if len(variants) < pool.variants:
                        variants.append(self._variant(pool, a, r, t, False))
                    elif not pool.variants:
                        variants = [self._variant(pool, a, r, t, False)]
                template, principal, request_id, slot, shared = variants[
                    int(rand() * len(variants))
                ]
                identity = principal.static_json or principal.identity_json(hour)
                values = {b"u": identity, b"t": prefix + clock[t - day_start], b"e": ids[j]}
                if request_id == 1:
                    values[b"r"] = ids[next_id]
                    next_id += 1
                elif request_id == 2:
                    values[b"r"] = b'"%016X"' % bits(64)
                if shared:
                    values[b"s"] = uuids_json(rng, 1)[0]
                if slot is not None:
                    slot.fill(values, t)
                out.append((t, template % values))
        if plan.scripted:
            out.extend(plan.scripted)
            out.sort(key=lambda item: item[0])
        return out
