"""Retention: remove whole days of events, for good.

A purge is one commit that removes every part of the days before a date and moves the lake's
**purge horizon** (``purged_before`` in the commit, kept in checkpoints) to that date. Ingest
then never writes a day before the horizon again: source files delivered before it are recorded
as skipped without being read, and rows of earlier days in later files (late deliveries) are
dropped. So re-running an ingest over the same source never brings a purged day back. The
commit goes through the same transaction as every change: a purge killed at any moment is
either not done or finished by the next writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from trailscope.lake.manifest import LakeState, Manifest
from trailscope.lake.transaction import Transaction

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What a purge removed (``trailscope lake purge`` prints it; ``--json`` too)."""

    before: str
    days: list[str] = field(default_factory=list)
    events: int = 0
    files: int = 0
    bytes: int = 0
    #: False when nothing was there to remove and the horizon did not move
    committed: bool = False

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def purge(manifest: Manifest, state: LakeState, before: date) -> PurgeReport:
    """Remove every day before ``before`` and keep ingest from writing them again."""
    horizon = before.isoformat()
    report = PurgeReport(before=horizon)

    def plan(tx: Transaction, current: LakeState) -> bool:
        doomed = sorted(
            (p for p in current.parts.values() if p.partition < horizon), key=lambda p: p.path
        )
        report.days = sorted({p.partition for p in doomed})
        report.events = sum(p.rows for p in doomed)
        report.files = len(doomed)
        report.bytes = sum(p.bytes for p in doomed)
        tx.remove_parts([p.path for p in doomed])
        tx.commit_record.purged_before = max(horizon, current.purged_before or "")
        tx.commit_record.info.update(days=report.days, events=report.events)
        return True

    if not manifest.storage.is_local:
        manifest.refresh(state)
    if (
        not any(p.partition < horizon for p in state.parts.values())
        and (state.purged_before or "") >= horizon
    ):
        return report  # nothing before it, and the horizon is there already
    tx = Transaction(manifest, state, "purge", info={"before": horizon}, rebase=plan)
    plan(tx, state)
    report.committed = tx.commit()
    log.info("purged %d days before %s (%d events)", len(report.days), horizon, report.events)
    return report
