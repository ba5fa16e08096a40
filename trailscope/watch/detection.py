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


#: Windows up to this long are read from the same start: one scan for all of them costs less
#: than one per window length, and a few minutes more of events are cheap.
SHORT_WINDOWS = timedelta(hours=1)


def _grouped(lookback: timedelta) -> timedelta:
    return SHORT_WINDOWS if timedelta(0) < lookback <= SHORT_WINDOWS else lookback


class Detector:
    """The rules a watch runs each cycle (built-in, plus ``rule_dirs``, tuned by the lake's
    ``detections.yml``).

    Rules are run in groups of the same window, each group from its own start: a filter rule
    reads only the new events, a one-hour window an hour before them, and only the rule that
    pairs events a day apart reads a day (one range for all would make every rule read a day).
    """

    def __init__(self, rule_dirs: list[str | os.PathLike[str]] | None = None) -> None:
        self.rule_dirs = [Path(d) for d in rule_dirs or []]
        self._groups: dict[timedelta, list[str]] | None = None

    def groups(self, lake: Lake) -> dict[timedelta, list[str]]:
        """Rule ids by window look-back (rules loaded once per watch)."""
        if self._groups is None:
            from trailscope.detect.config import apply_config
            from trailscope.detect.loader import load_rules
            from trailscope.detect.runner import resolve_config

            rules = load_rules(self.rule_dirs, include_builtin=True).rules
            tuned = apply_config(rules, resolve_config(None, lake))
            groups: dict[timedelta, list[str]] = {}
            for rule in tuned.rules:
                groups.setdefault(_grouped(window_lookback([rule])), []).append(rule.id)
            self._groups = groups
        return self._groups

    def lookback(self, lake: Lake) -> timedelta:
        """The longest window of the rules."""
        return max(self.groups(lake), default=timedelta(0))

    def run(self, lake: Lake, first: str, last: str) -> DetectionReport:
        """Every rule over ``[first - its window, last]``, as one report."""
        from trailscope.detect import DetectionReport, run_detections

        start = datetime.fromisoformat(first.replace("Z", "+00:00"))
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        report = DetectionReport()
        engine = lake.engine()
        try:
            for lookback, ids in sorted(self.groups(lake).items()):
                part = run_detections(
                    lake,
                    since=start - lookback,
                    until=last,
                    rule_dirs=self.rule_dirs,
                    rule_ids=ids,
                    engine=engine,
                )
                report.findings.extend(part.findings)
                report.rules_run += part.rules_run
                report.timings.extend(part.timings)
                report.suppressed += part.suppressed
                report.unsupported += [u for u in part.unsupported if u not in report.unsupported]
                report.warnings += [w for w in part.warnings if w not in report.warnings]
                report.since = min(filter(None, (report.since, part.since)), default=None)
                report.until = part.until
        finally:
            engine.close()
        return report
