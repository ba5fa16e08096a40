"""When a watch runs: the interval typed on the command line, and the pause after a failure.

A failed cycle (a source or lake that cannot be reached) is tried again after a pause that
doubles each time, up to a cap, so a long outage costs a request every few minutes rather than
a tight loop; the first good cycle resets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailscope.errors import TrailscopeError

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str, *, option: str = "--every") -> float:
    """Seconds in ``30s``, ``5m``, ``1h``, ``1d`` (a bare number is seconds)."""
    match = _INTERVAL.match(text or "")
    if match is None:
        raise TrailscopeError(
            f"cannot read {option} {text!r}",
            hint="use a number and a unit: 30s, 5m, 1h, 1d",
        )
    value = float(match.group(1)) * _SECONDS[(match.group(2) or "s").lower()]
    if value <= 0:
        raise TrailscopeError(f"{option} must be more than 0, not {text!r}")
    return value


@dataclass
class Backoff:
    """Capped exponential pauses: ``first``, twice that, ... never more than ``cap``."""

    first: float = 1.0
    cap: float = 300.0
    failures: int = 0

    def next_pause(self) -> float:
        """The pause before the next try, counting this failure."""
        pause = min(self.cap, self.first * (2**self.failures))
        self.failures += 1
        return pause

    def reset(self) -> None:
        self.failures = 0
