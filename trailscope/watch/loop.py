"""``trailscope watch``: ingest what is new, run the detections on it, record findings and
alert, again and again, through bad files, outages, restarts and signals.

One cycle: ingest (new objects from a listing, or exactly those an SQS queue of the bucket's
notifications names), run the detections over the events ingested since the last cycle that
did (see :mod:`.pending`), hand the report to the findings store, retry the alerts it still
holds, write the health record. A cycle that fails (a source or lake out of reach) is tried
again after a pause that grows to a cap; the next good cycle catches up with everything, because
the listing and the detection cursor both start where the lake says, not where the loop was.

SIGTERM or SIGINT lets the running cycle finish, then the watch stops (exit 0, or 130 after
SIGINT); a second signal stops the cycle at once (ingest and alerts are crash-safe: the next
start redoes what was not committed).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from trailscope.errors import LakeError, LakeLockedError, SourceError, TrailscopeError
from trailscope.exitcodes import ExitCode
from trailscope.watch.alerting import Alerting, retrying_reads
from trailscope.watch.detection import Detector
from trailscope.watch.health import CycleRecord, WatchHealth, now_iso, read_health, redact
from trailscope.watch.health import write_health as _write_health
from trailscope.watch.lock import WatchLock
from trailscope.watch.pending import newest_event, pending_since
from trailscope.watch.schedule import Backoff

if TYPE_CHECKING:
    from trailscope.facade import Lake
    from trailscope.lake.ingest import IngestSummary
    from trailscope.lake.manifest import LakeState
    from trailscope.sources import Source
    from trailscope.watch.queue import NotificationQueue, Received

log = logging.getLogger(__name__)

#: How often a listing watch lists the whole source instead of the last days only.
FULL_LISTING_EVERY = timedelta(hours=6)


@dataclass
class WatchOptions:
    """How a watch runs (the CLI's options)."""

    every: float = 300.0
    once: bool = False
    workers: int = 1
    backoff_first: float = 1.0
    backoff_cap: float = 300.0
    profile: str | None = None
    endpoint_url: str | None = None
    rule_dirs: list[str] = field(default_factory=list)


class Stop(Exception):
    """A second signal: stop the running cycle now."""


class Watcher:
    """One watch over one lake; :meth:`run` until stopped, or :meth:`cycle` once."""

    def __init__(
        self,
        lake: Lake,
        source: Source,
        alerting: Alerting,
        options: WatchOptions,
        *,
        queue: NotificationQueue | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.lake = lake
        self.source = source
        self.alerting = alerting
        self.options = options
        self.queue = queue
        self.say = say or log.info
        self.detector = Detector(list(options.rule_dirs))
        self.backoff = Backoff(options.backoff_first, options.backoff_cap)
        self.health = WatchHealth()
        self._wake = threading.Event()
        self._stop_signal: int | None = None
        self._in_cycle = False
        self._listed_from: datetime | None = None  # None: list everything
        self._state: LakeState | None = None
        self._last_full_listing = 0.0

    # ----------------------------------------------------------------- the loop

    def run(self) -> int:
        """Cycles until a signal (or one with ``once``); the exit code."""
        lock = WatchLock(self.lake.storage, stale_after=max(600.0, 3 * self.options.every))
        self.lake.storage.prepare()
        self.lake.manifest.initialize()
        with lock:
            previous = self._install_signals()
            try:
                return self._run(lock)
            finally:
                self._restore_signals(previous)
                self._stopped()

    def _run(self, lock: WatchLock) -> int:
        self._start_health()
        while True:
            try:
                lock.renew()
                cycle = self.cycle()
            except Stop:
                return self._exit_code()
            except Exception as exc:
                if self.options.once:
                    raise
                pause = self.backoff.next_pause()
                self.say(f"{_what_failed(exc)}, retrying in {pause:.0f}s: {self._text(exc)}")
                if not isinstance(exc, TrailscopeError):
                    log.exception("unexpected error in a watch cycle")
            else:
                pause = self.options.every
                if self.options.once:
                    return ExitCode.QUARANTINED if cycle.quarantined else ExitCode.OK
            if self._stop_signal is not None:
                return self._exit_code()
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop_signal is not None:
                return self._exit_code()

    def _exit_code(self) -> int:
        return ExitCode.INTERRUPTED if self._stop_signal == signal.SIGINT else ExitCode.OK

    # ----------------------------------------------------------------- one cycle

    def cycle(self) -> CycleRecord:
        """Ingest, detect, record, alert, write the health record; raises when the source or
        the lake cannot be reached (after recording the failed cycle when the lake can)."""
        started = time.monotonic()
        record = CycleRecord(started_at=now_iso())
        self._in_cycle = True
        try:
            summary = self._ingest()
            if summary is not None:
                record.objects = summary.read
                record.quarantined = summary.problems
            state = self._current_state()
            pending = retrying_reads(
                lambda: pending_since(self.lake, self.health.detected_version, state=state)
            )
            record.events = pending.events
            if pending.first is not None and pending.last is not None:
                first, last = pending.first, pending.last
                report = retrying_reads(lambda: self.detector.run(self.lake, first, last))
                record.detected_from, record.detected_until = pending.first, pending.last
                found = self.alerting.record(self.lake, report)  # delivers what is due too
            else:
                found = self.alerting.deliver(self.lake)  # earlier alerts still queued
            self.health.detected_version = pending.through
            record.findings_opened, record.findings_updated = found.opened, found.updated
            record.alerts_sent, record.alerts_failed = found.sent, found.failed
            record.alerts_queued = found.queued
            record.result = "quarantined" if record.quarantined else "ok"
            self.backoff.reset()
        except BaseException as exc:
            record.result = "interrupted" if isinstance(exc, Stop | KeyboardInterrupt) else "failed"
            record.error = self._text(exc) if record.result == "failed" else None
            self._finish(record, started)
            raise
        finally:
            self._in_cycle = False
        self._finish(record, started)
        if record.objects or record.findings_opened or record.alerts_sent:
            self.say(
                f"cycle: {record.objects} files, {record.events} events, "
                f"{record.findings_opened} new findings, {record.alerts_sent} alerts sent "
                f"({record.duration_seconds:.1f}s)"
            )
        return record

    def _ingest(self) -> IngestSummary | None:
        opts = self.options
        if self.queue is not None:
            received = self.queue.receive()
            objects = [n.source_object() for n in received.objects if self._wanted(n)]
            summary = None
            if objects:
                summary = self.lake.ingest(self.source, objects=objects, workers=opts.workers)
            # Only once the ingest above has committed, and not the messages of objects whose
            # read failed (the source out of reach): those come back and are read again.
            self.queue.delete(received.keep(self._done(received)))
            return summary
        full = time.monotonic() - self._last_full_listing > FULL_LISTING_EVERY.total_seconds()
        since = None if full or self._listed_from is None else self._listed_from
        summary = self.lake.ingest(self.source, since=since, workers=opts.workers)
        if full:
            self._last_full_listing = time.monotonic()
        self._listed_from = self._latest_day(self._current_state())
        return summary

    def _current_state(self) -> LakeState:
        """The lake's state, kept between cycles and brought up to date with the commits made
        since (reading the whole state again each cycle costs most of an idle cycle)."""
        if self._state is None:
            self._state = self.lake.state()
            return self._state
        try:
            self.lake.manifest.refresh(self._state)
        except LakeError as exc:  # the log was cut (a repair): read it whole again
            log.info("reading the lake's state again: %s", exc)
            self._state = self.lake.state()
        return self._state

    def _done(self, received: Received) -> set[str]:
        """Receipts of the messages whose every object is in the lake for good."""
        from trailscope.lake.batch import object_id

        objects = self._current_state().objects
        done = set()
        for receipt, named in received.named.items():
            failed = False
            for n in named:
                if not self._wanted(n):
                    continue
                record = objects.get(object_id(n.source_object()))
                failed = failed or record is None or record.read_failed
            if not failed:
                done.add(receipt)
        return done

    def _wanted(self, notified: Any) -> bool:
        """Objects of the watched bucket and prefix (a queue may carry others)."""
        bucket = getattr(self.source, "bucket", None)
        prefix = getattr(self.source, "prefix", "")
        return bool(notified.bucket == bucket and notified.key.startswith(prefix))

    def _latest_day(self, state: LakeState) -> datetime | None:
        """The latest delivery day the lake holds objects of: later listings start the day
        before it (files of a day keep coming a little after midnight)."""
        days = [o.day for o in state.objects.values() if o.day]
        if not days:
            return None
        return datetime.fromisoformat(max(days)).replace(tzinfo=UTC)

    # ----------------------------------------------------------------- health

    def _start_health(self) -> None:
        stored = read_health(self.lake.storage)
        if stored is not None:
            self.health = stored
        self.health.source = self.source.uri
        self.health.mode = "sqs" if self.queue is not None else "listing"
        self.health.every_seconds = self.options.every
        self.health.destinations = list(self.alerting.kinds)
        self.health.started()
        if self.health.newest_event is None:
            try:
                self.health.newest_event = newest_event(self.lake)
            except TrailscopeError as exc:
                log.warning("could not read the newest event of the lake: %s", exc)
        self._write_health()

    def _finish(self, record: CycleRecord, started: float) -> None:
        record.finished_at = now_iso()
        record.duration_seconds = round(time.monotonic() - started, 3)
        self.health.record(record)
        self._write_health()

    def _write_health(self) -> None:
        try:
            _write_health(self.lake.storage, self.health)
        except Exception as exc:  # the lake out of reach: the next cycle says so
            log.warning("could not write the watch health record: %s", self._text(exc))

    def _stopped(self) -> None:
        self.health.state = "stopped"
        self.health.stopped_at = now_iso()
        self._write_health()

    def _text(self, exc: BaseException) -> str:
        message = exc.message if isinstance(exc, TrailscopeError) else str(exc) or repr(exc)
        return redact(message.splitlines()[0] if message else "", self.alerting.secrets)

    # ----------------------------------------------------------------- signals

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signals reach the main thread only (a watch run from a test thread)
        previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = self._stop_signal is None
        self._stop_signal = signum
        self._wake.set()
        name = signal.Signals(signum).name
        if self._in_cycle and not first:
            raise Stop(f"{name} again: stopping the cycle now")
        if self._in_cycle:
            self.say(f"{name}: finishing this cycle, then stopping (again to stop at once)")
        else:
            self.say(f"{name}: stopping")

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop after the running cycle, as a signal would (for callers in other threads)."""
        self._stop_signal = signum
        self._wake.set()


def _what_failed(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return "source unreachable"
    if isinstance(exc, LakeLockedError):
        return "lake busy"
    if isinstance(exc, LakeError | OSError):
        return "lake unreachable"
    return "cycle failed"
