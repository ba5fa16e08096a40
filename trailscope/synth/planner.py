"""The plan of a trail: which log files exist, when they are delivered, how many events each.

Events are spread over five-minute windows per account and region, busier by day than by night
and on weekdays than at weekends, and in files of varied size; each file is delivered five to
fifteen minutes after its window ends, as CloudTrail delivers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from trailscope.synth.clock import DAY, WINDOW, Span, day_of
from trailscope.synth.ids import ALPHANUMERIC, random_text
from trailscope.synth.world import World

_REGION_WEIGHTS = (1.0, 0.45, 0.25)  # the first regions given are the busiest
_OTHER_REGION_WEIGHT = 0.15
#: A scripted event: (account index, region index, time, event).
Scripted = tuple[int, int, int, dict[str, Any]]


@dataclass
class FilePlan:
    """One log file to write: which account/region, which five minutes, how many events."""

    account: int  # index into World.accounts
    region: int  # index into World.regions
    window_start: int
    delivery: int
    generic: int  # events of the everyday mix
    suffix: str  # the random tail of the file name
    scripted: list[tuple[int, bytes]] = field(default_factory=list)  # (time, serialised event)


class Planner:
    """Draws the plan from its own seeded stream, so stories never shift it."""

    def __init__(self, world: World, seed: int, span: Span) -> None:
        self.world = world
        self.rng = random.Random(f"trailscope-synth:{seed}:plan")
        self.span = span

    def spread(self, generic_events: int, events_per_file: int) -> list[FilePlan]:
        """Spread the generic events over five-minute files, busier by day than by night."""
        if generic_events <= 0:
            return []
        rng = self.rng
        world = self.world
        file_count = max(1, math.ceil(generic_events / events_per_file))
        pairs = [(acc.index, r) for acc in world.accounts for r in range(len(world.regions))]
        region_weights = [*_REGION_WEIGHTS, *[_OTHER_REGION_WEIGHT] * len(world.regions)]
        pair_cumulative = []
        total = 0.0
        for a, r in pairs:
            total += world.accounts[a].weight * region_weights[r]
            pair_cumulative.append(total)
        first = self.span.first
        window_count = self.span.days * (DAY // WINDOW)
        window_cumulative = []
        total = 0.0
        for i in range(window_count):
            start = first + i * WINDOW
            day = day_of(start)
            hour = start % DAY / 3600 + 1 / 24
            factor = 0.3 + 1.4 * math.exp(-(((hour - 14.5) / 4.2) ** 2))
            if day.weekday() >= 5:
                factor *= 0.45
            total += factor
            window_cumulative.append(total)
        chosen_pairs = rng.choices(pairs, cum_weights=pair_cumulative, k=file_count)
        chosen_windows = rng.choices(
            range(window_count), cum_weights=window_cumulative, k=file_count
        )
        sizes = [rng.uniform(0.35, 1.65) for _ in range(file_count)]
        scale = generic_events / sum(sizes)
        counts = [int(s * scale) for s in sizes]
        short = generic_events - sum(counts)
        order = sorted(range(file_count), key=lambda i: sizes[i] * scale - counts[i], reverse=True)
        for i in order[:short]:
            counts[i] += 1
        plans = []
        for (a, r), window, count in zip(chosen_pairs, chosen_windows, counts, strict=True):
            if count == 0:
                continue
            plans.append(self.new_file(a, r, first + window * WINDOW, count))
        return plans

    def new_file(self, account: int, region: int, window_start: int, generic: int) -> FilePlan:
        """A file for a window, delivered 5-15 minutes after the window ends."""
        rng = self.rng
        delivery = window_start + WINDOW + rng.randrange(0, 600)
        suffix = random_text(rng, ALPHANUMERIC, 16)
        return FilePlan(account, region, window_start, delivery, generic, suffix)

    def attach(self, plans: list[FilePlan], scripted: list[Scripted]) -> None:
        """Put each scripted event into a file of its account/region/window, making one if
        no generic file exists there."""
        index: dict[tuple[int, int, int], FilePlan] = {}
        for plan in plans:
            index.setdefault((plan.account, plan.region, plan.window_start), plan)
        for a, r, t, event in scripted:
            start = t - t % WINDOW
            found = index.get((a, r, start))
            if found is None:
                found = index[(a, r, start)] = self.new_file(a, r, start, 0)
                plans.append(found)
            found.scripted.append((t, orjson.dumps(event)))
