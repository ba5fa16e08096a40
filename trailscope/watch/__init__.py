"""Unattended runs on a live trail: ``trailscope watch`` (see :mod:`.loop`).

from trailscope.watch import Watcher, WatchOptions, read_health
"""

from trailscope.watch.health import HEALTH_FILE, CycleRecord, WatchHealth, read_health
from trailscope.watch.loop import Watcher, WatchOptions

__all__ = [
    "HEALTH_FILE",
    "CycleRecord",
    "WatchHealth",
    "WatchOptions",
    "Watcher",
    "read_health",
]
