"""Running the detections on what a cycle ingested, over a range wide enough for every rule.

A windowed rule (say, ten failed logins within five minutes) needs the events just before the
new ones too: the run starts the longest window before the first new event. Rules that compare
with a baseline of days read that baseline by themselves (``lookback_since``), so only the
windows widen the range here.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from trailscope.detect.model import Rule

if TYPE_CHECKING:
    from trailscope.detect import DetectionReport
    from trailscope.facade import Lake


def window_lookback(rules: list[Rule]) -> timedelta:
    """The longest ``window_minutes`` of ``rules`` (zero when none has a window)."""
    longest = timedelta(0)
    for rule in rules:
        minutes = next((p.default for p in rule.params if p.name == "window_minutes"), 0)
        longest = max(longest, timedelta(minutes=int(minutes or 0)))
    return longest


class Detector:
    """The rules a watch runs each cycle (built-in, plus ``rule_dirs``, tuned by the lake's
    ``detections.yml``)."""

    def __init__(self, rule_dirs: list[str | os.PathLike[str]] | None = None) -> None:
        self.rule_dirs = [Path(d) for d in rule_dirs or []]
        self._lookback: timedelta | None = None

    def lookback(self, lake: Lake) -> timedelta:
        if self._lookback is None:
            from trailscope.detect.config import apply_config
            from trailscope.detect.loader import load_rules
            from trailscope.detect.runner import resolve_config

            rules = load_rules(self.rule_dirs, include_builtin=True).rules
            tuned = apply_config(rules, resolve_config(None, lake))
            self._lookback = window_lookback(tuned.rules)
        return self._lookback

    def run(self, lake: Lake, first: str, last: str) -> DetectionReport:
        """Every rule over ``[first - longest window, last]``."""
        from trailscope.detect import run_detections

        start = datetime.fromisoformat(first.replace("Z", "+00:00"))
        start = (start if start.tzinfo else start.replace(tzinfo=UTC)) - self.lookback(lake)
        return run_detections(lake, since=start, until=last, rule_dirs=self.rule_dirs)
