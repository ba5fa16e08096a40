"""A trail as a sequence of objects: the plan, the log files, Insights, digests and the rest.

:class:`TrailGenerator` knows what a trail holds and produces each object's bytes; it does not
decide when or where they are written. :func:`~trailscope.synth.trail.synth_trail` writes them
all at once; :class:`~trailscope.synth.live.LiveTrail` releases them as CloudTrail would deliver
them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import orjson

from trailscope.synth.catalogue import generic_mix
from trailscope.synth.clock import Span
from trailscope.synth.digests import DigestChain, LogReference, Signer
from trailscope.synth.events import EventFactory
from trailscope.synth.ids import ALPHANUMERIC, random_text
from trailscope.synth.incidents import PlantedIncident
from trailscope.synth.insights import insight_files
from trailscope.synth.keys import insight_key, log_key, writability_check_key
from trailscope.synth.planner import FilePlan, Planner
from trailscope.synth.redelivery import Redelivery
from trailscope.synth.scripting import StoryWriter
from trailscope.synth.stories import scenarios
from trailscope.synth.templates import GenericMix
from trailscope.synth.world import World


@dataclass
class LogFile:
    """One log file: its key, its JSON, and what a digest says about it."""

    account: int
    region: int
    key: str
    content: bytes
    reference: LogReference
    unique_events: int
    redelivered_events: int


@dataclass
class TrailObject:
    """Any other object of a trail (Insights, writability checks), with when it lands."""

    key: str
    content: bytes
    delivery: int
    events: int = 0


class TrailGenerator:
    """Everything that decides a trail's content for a seed and a span.

    :param span: the time the trail covers.
    """

    def __init__(
        self,
        *,
        seed: int,
        accounts: int,
        regions: Sequence[str],
        org_id: str | None,
        span: Span,
        geography: bool = False,
    ) -> None:
        self.seed = seed
        self.geography = geography
        self.span = span
        self.world = World(seed, accounts, regions, org_id, geography)
        self.factory = EventFactory(self.world)
        kinds = generic_mix()
        self.mix = GenericMix(self.world, self.factory, seed, kinds)
        self.stories = StoryWriter(self.factory, kinds, seed=seed, span=span)
        self.planner = Planner(self.world, seed, span)

    def plan(
        self, events: int, events_per_file: int, incidents: bool | Mapping[str, int | None]
    ) -> tuple[list[FilePlan], list[PlantedIncident]]:
        """The log files in delivery order, with the stories and incidents placed in them."""
        scripted, planted = scenarios(self.stories, events, incidents, geography=self.geography)
        plans = self.planner.spread(events - len(scripted), events_per_file)
        self.planner.attach(plans, scripted)
        plans.sort(key=lambda p: (p.delivery, p.account, p.region, p.suffix))
        return plans, planted

    def log_files(self, plans: list[FilePlan], redelivery: Redelivery) -> Iterator[LogFile]:
        """Each planned file's bytes, in plan order (the order is part of the output)."""
        world = self.world
        for plan in plans:
            records = self.mix.events_for(plan)
            unique = len(records)
            again = redelivery.mix_in((plan.account, plan.region), plan.delivery, records)
            # Own events are sorted; re-delivered copies (appended) are older still.
            oldest = min(t for t, _ in (records[0], *records[unique:]))
            newest = records[unique - 1][0]
            content = b'{"Records":[' + b",".join([event for _, event in records]) + b"]}"
            key = log_key(world, plan.account, plan.region, plan.delivery, plan.suffix)
            sha256 = hashlib.sha256(content).hexdigest()
            reference = LogReference(plan.delivery, key, sha256, oldest, newest)
            yield LogFile(plan.account, plan.region, key, content, reference, unique, again)

    def insight_files(self) -> list[TrailObject]:
        """The Insights files, by delivery time."""
        world = self.world
        rng = random.Random(f"trailscope-synth:{self.seed}:insight-names")
        out = []
        for file in insight_files(world, self.seed, self.span):
            suffix = random_text(rng, ALPHANUMERIC, 16)
            key = insight_key(world, file.account, file.region, file.delivery, suffix)
            content = orjson.dumps({"Records": file.events})
            out.append(TrailObject(key, content, file.delivery, len(file.events)))
        return out

    def writability_checks(self) -> list[TrailObject]:
        """The check object CloudTrail writes for each account when the trail is created."""
        return [
            TrailObject(
                writability_check_key(self.world, account.index),
                b"Configuration writability check\n",
                self.span.first,
            )
            for account in self.world.accounts
        ]

    def digest_chains(self, signer: Signer | None) -> list[DigestChain]:
        """One chain per account and region; the first digest ends within the first hour."""
        rng = random.Random(f"trailscope-synth:{self.seed}:digests")
        return [
            DigestChain(
                self.world,
                account.index,
                r,
                start=self.span.first,
                first_end=self.span.first + rng.randrange(60, 3600),
                signer=signer,
            )
            for account in self.world.accounts
            for r in range(len(self.world.regions))
        ]
