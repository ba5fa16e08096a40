"""Re-delivered events: CloudTrail sometimes delivers an event again in a later file.

A small fraction of events is written a second time, byte-identical, in a later file of the same
account and region, never more than a day later; an ingest must keep one copy.
"""

from __future__ import annotations

import math
import random

from trailscope.synth.clock import DAY


class Redelivery:
    """Chooses events to deliver again and carries them to the next file of their place."""

    def __init__(self, seed: int, fraction: float) -> None:
        self.rng = random.Random(f"trailscope-synth:{seed}:redelivery")
        self.log_keep = math.log1p(-fraction) if fraction > 0 else 0.0
        self.next_pick: float = self._gap()  # index, over all unique events, of the next one
        self.pending: dict[tuple[int, int], list[tuple[int, bytes]]] = {}

    def _gap(self) -> float:
        """Events until the next chosen one: geometric, so picking a fraction of a million
        events costs a few thousand draws instead of a million."""
        if not self.log_keep:
            return math.inf
        return int(math.log(1.0 - self.rng.random()) / self.log_keep)

    def mix_in(
        self, place: tuple[int, int], delivery: int, records: list[tuple[int, bytes]]
    ) -> int:
        """Append to a file's ``records`` (its own events, sorted) the copies waiting for its
        account/region, and choose which of its own events come again later.

        :returns: how many copies were appended.
        """
        unique = len(records)
        waiting = self.pending.pop(place, None)
        again: list[tuple[int, bytes]] = []
        if waiting:
            day = delivery // DAY
            again = [item for item in waiting if day - item[0] // DAY <= 1]
            records.extend(again)
        chosen = []
        while self.next_pick < unique:
            chosen.append(records[int(self.next_pick)])
            self.next_pick += 1 + self._gap()
        self.next_pick -= unique
        if chosen:
            self.pending[place] = chosen
        return len(again)
