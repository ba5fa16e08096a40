"""The step after detection: record findings and send alerts, behind one small interface.

The findings store (:mod:`trailscope.findings`) remembers each finding under a stable id and
keeps alerts queued in the lake until a destination takes them; the watch only hands it each
cycle's report and asks it to retry what is queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from trailscope.errors import LakeError, TrailscopeError
from trailscope.sql import QueryError

if TYPE_CHECKING:
    from trailscope.detect import DetectionReport, Severity
    from trailscope.facade import Lake

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class AlertCounts:
    """What one step did (the findings store's ``AlertCycle``, by name)."""

    opened: int = 0
    updated: int = 0
    suppressed: int = 0
    sent: int = 0
    queued: int = 0
    failed: int = 0

    @classmethod
    def of(cls, cycle: Any) -> AlertCounts:
        return cls(
            opened=int(getattr(cycle, "opened", 0)),
            updated=int(getattr(cycle, "updated", 0)),
            suppressed=int(getattr(cycle, "suppressed", 0)),
            sent=int(getattr(cycle, "alerts_sent", 0)),
            queued=int(getattr(cycle, "alerts_queued", 0)),
            failed=int(getattr(cycle, "alerts_failed", 0)),
        )


class Alerting(Protocol):
    """Records a report's findings and alerts on them; retries queued alerts."""

    #: destination kinds (webhook, slack, sns, email), for the health record
    kinds: list[str]
    #: texts that must never be shown (the destinations' URLs and addresses)
    secrets: list[str]

    def record(self, lake: Lake, report: DetectionReport) -> AlertCounts:
        """Record the findings, queue their alerts and deliver what is due."""
        ...

    def deliver(self, lake: Lake) -> AlertCounts: ...


class FindingsAlerting:
    """Through :mod:`trailscope.findings`: findings remembered, alerts sent once."""

    def __init__(
        self,
        specs: list[str],
        *,
        min_severity: Severity,
        realert_after: timedelta | None = None,
        base_url: str | None = None,
    ) -> None:
        from trailscope.alerts import parse_destination

        self.destinations = [parse_destination(s) for s in specs]
        self.kinds = [d.kind for d in self.destinations]
        self.secrets = [s.partition("=")[2].strip() for s in specs]
        self.min_severity = min_severity
        self.realert_after = realert_after
        self.base_url = base_url

    def record(self, lake: Lake, report: DetectionReport) -> AlertCounts:
        from trailscope.findings import record_and_alert

        return AlertCounts.of(
            retrying_reads(
                lambda: record_and_alert(
                    lake,
                    report,
                    self.destinations,
                    min_severity=self.min_severity,
                    realert_after=self.realert_after,
                    base_url=self.base_url,
                )
            )
        )

    def deliver(self, lake: Lake) -> AlertCounts:
        from trailscope.findings import deliver_pending

        return AlertCounts.of(
            retrying_reads(lambda: deliver_pending(lake, self.destinations, base_url=self.base_url))
        )


#: Tries of a step whose read of a side table lost a race with another writer.
_READ_TRIES = 4


def retrying_reads(step: Callable[[], T]) -> T:
    """Run ``step`` again when a file it read was retired meanwhile (another writer committed
    a newer side-table version or compacted a day, as concurrent Lambda invocations do on an
    S3 lake): running it again reads the lake as it is now. Recording is idempotent (a
    finding recorded by the first try is updated, not alerted, by the next)."""
    for attempt in range(1, _READ_TRIES + 1):
        try:
            return step()
        except (OSError, LakeError, QueryError) as exc:
            if not _retired(exc) or attempt == _READ_TRIES:
                raise
            log.info("a side table changed under the alert step (%s); reading it again", exc)
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _retired(exc: BaseException) -> bool:
    """A file gone between reading the lake's state and reading the file: a side-table
    version or a part that a concurrent commit (a new version, a compaction) retired."""
    if isinstance(exc, LakeError):
        return "(missing)" in exc.message
    text = str(exc)
    return isinstance(exc, FileNotFoundError) or any(m in text for m in _GONE)


#: How pyarrow's S3 filesystem says an object is not there (by the operation that found out),
#: and how DuckDB says so when a query's scan of the lake's parts found one gone.
_GONE = ("NO_SUCH_KEY", "RESOURCE_NOT_FOUND", "Path does not exist")


class CountingOnly:
    """Where no findings store is installed: findings are counted, nothing is sent."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.secrets: list[str] = []

    def record(self, lake: Lake, report: DetectionReport) -> AlertCounts:
        return AlertCounts(opened=len(report.findings))

    def deliver(self, lake: Lake) -> AlertCounts:
        return AlertCounts()


def make_alerting(
    specs: list[str],
    *,
    min_severity: Severity,
    realert_after: timedelta | None = None,
    base_url: str | None = None,
) -> Alerting:
    """The findings store when it is there; a clear error if alerts are asked without it."""
    try:
        import trailscope.alerts
        import trailscope.findings  # noqa: F401
    except ImportError:
        if specs:
            raise TrailscopeError(
                "this trailscope has no findings store, so it cannot send alerts",
                hint="run without --alert, or upgrade trailscope",
            ) from None
        return CountingOnly()
    return FindingsAlerting(
        specs, min_severity=min_severity, realert_after=realert_after, base_url=base_url
    )
