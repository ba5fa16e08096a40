"""The resolved time window of a command, printed on stderr with what it means for the lake.

Every command that takes ``--since``/``--until`` prints the window it ran on and, when the
window misses the lake or covers only part of it, a note with the lake's first and last event
(the rule: :mod:`trailscope.timewindow`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trailscope.cli.base import err, safe
from trailscope.timeparse import parse_time
from trailscope.timewindow import RULE, Window, iso, lake_span, resolve, zone

#: The rule as ``--help`` states it.
WINDOW_RULE = RULE


def report_window(
    lake: Any,
    bound: Mapping[str, Any],
    tz: str | None,
    *,
    keys: tuple[str, str] = ("since", "until"),
) -> Window | None:
    """Print the window of a saved query's bound ``since``/``until`` (None: it has none) and,
    with a ``lake`` to compare against, how it meets the lake's events."""
    since, until = bound.get(keys[0]), bound.get(keys[1])
    if keys[0] not in bound and keys[1] not in bound:
        return None
    return print_window(lake, since, until, tz)


def print_window(lake: Any, since: Any, until: Any, tz: str | None) -> Window:
    """Resolve ``since``..``until``, check it against ``lake`` (when given), print both."""
    span = lake_span(lake) if lake is not None else None
    window = resolve(since, until, span=span)
    print_resolved(window, tz)
    return window


def print_resolved(window: Window, tz: str | None) -> None:
    """The window line, and the coverage note when there is one."""
    zone_ = zone(tz)
    err.print(f"[dim]{safe(window.describe(zone_))}[/]", highlight=False, soft_wrap=True)
    note = window.note(zone_)
    if note is not None:
        err.print(f"[yellow]note:[/] {safe(note)}", highlight=False, soft_wrap=True)


def in_zone(value: str | None, tz: str | None, *, end: bool = False) -> str | None:
    """A time as typed, with ``--tz``: a date or time written without a zone is read in that
    zone, as the web reads it in the page's zone (ages, epochs and zoned times are absolute)."""
    if value is None or tz is None:
        return value
    return iso(parse_time(value, end_of_day=end, tz=zone(tz)))
