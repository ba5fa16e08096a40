"""A trail that grows as CloudTrail delivers it, for testing tools that watch a live trail.

:class:`LiveTrail` plans the same trail :func:`~trailscope.synth.synth_trail` writes for the same
arguments and span, then writes each object only once its delivery time has passed: log files
five to fifteen minutes after their window, Insights files twenty to forty minutes after their
events, each hourly digest at the end of its hour. :meth:`LiveTrail.advance` moves the clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import orjson

from trailscope.synth.digests import DigestChain, DigestFile, LogReference, Signer
from trailscope.synth.generator import LogFile, TrailGenerator
from trailscope.synth.incidents import PlantedIncident
from trailscope.synth.keys import PUBLIC_KEY_FILE, SIGNATURES_FILE
from trailscope.synth.poison import PoisonFile, PoisonMaker
from trailscope.synth.redelivery import Redelivery
from trailscope.synth.sinks import DirectorySink, Sink, gzip
from trailscope.synth.trail import DEFAULT_REGIONS, check_options, incident_seconds, trail_span

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

logger = logging.getLogger(__name__)

ObjectKind = Literal["log", "insight", "digest", "other", "poison"]
# Objects delivered in the same second are written in this order.
_RANK: dict[ObjectKind, int] = {"other": 0, "log": 1, "poison": 2, "insight": 3, "digest": 4}


@dataclass(frozen=True)
class Delivery:
    """One object a live trail wrote: its key (relative to the trail's root), when CloudTrail
    delivered it, what it is, and how many events it holds (re-delivered copies included)."""

    key: str
    delivered: dt.datetime
    kind: ObjectKind
    events: int = 0


@dataclass
class _Scheduled:
    """An object known in advance (Insights, checks, poison), waiting for its moment."""

    at: int
    kind: ObjectKind
    key: str
    data: bytes
    compress: bool
    events: int = 0


def _seconds(moment: dt.datetime) -> int:
    return int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())


def _moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class LiveTrail:
    """A synthetic trail written as it is delivered: nothing appears before its time.

    The trail covers ``days`` days from ``start`` (to the five minutes) and holds the objects
    ``synth_trail(end=start + days, days=days, ...)`` writes with the same arguments, byte for
    byte; only the moment each appears differs. Poison objects (see
    :mod:`trailscope.synth.poison`) come on top, named like log files. The same arguments give
    the same objects however the clock is advanced.

    :param destination: a folder, or a :class:`~trailscope.synth.sinks.Sink` such as
        :class:`~trailscope.synth.sinks.S3Sink` to grow a trail in a bucket.
    :param incidents: True for every incident at its usual time, False for none, or incident
        names (:data:`~trailscope.synth.incidents.INCIDENTS`) mapped to the moment each starts.
    :param poison: (kind, moment) pairs: a poison object of that kind
        (:data:`~trailscope.synth.poison.POISON_KINDS`) delivered at that moment.
    """

    def __init__(
        self,
        destination: Path | str | Sink,
        *,
        start: dt.datetime,
        days: int = 1,
        events: int = 20_000,
        seed: int = 7,
        accounts: int = 3,
        regions: tuple[str, ...] = DEFAULT_REGIONS,
        org_id: str | None = None,
        events_per_file: int = 128,
        digests: bool = True,
        insights: bool = True,
        incidents: bool | Mapping[str, dt.datetime] = True,
        redeliver_fraction: float = 0.001,
        signing_key: RSAPrivateKey | None = None,
        poison: Iterable[tuple[str, dt.datetime]] = (),
        compresslevel: int = 2,
    ) -> None:
        check_options(
            events=events,
            accounts=accounts,
            days=days,
            events_per_file=events_per_file,
            regions=regions,
            redeliver_fraction=redeliver_fraction,
        )
        #: The folder the trail grows in (None when it grows in another sink).
        self.root: Path | None = None
        if isinstance(destination, (str, Path)):
            self.root = Path(destination)
            destination = DirectorySink(self.root)
        self.sink: Sink = destination
        self.level = compresslevel
        span = trail_span(start + dt.timedelta(days=days), days)
        generator = TrailGenerator(
            seed=seed, accounts=accounts, regions=regions, org_id=org_id, span=span
        )
        plans, planted = generator.plan(events, events_per_file, incident_seconds(incidents, span))
        #: The incidents planted in the trail, with the detection that must catch each.
        self.incidents: list[PlantedIncident] = planted
        self._logs = generator.log_files(plans, Redelivery(seed, redeliver_fraction))
        self._next_log: LogFile | None = None
        # A digest chain ends with its first digest after the last log delivery.
        self._last_log = max([span.last, *(plan.delivery for plan in plans)])
        self._signer = Signer(signing_key) if signing_key is not None else None
        self._chains = generator.digest_chains(self._signer) if digests else []
        self._waiting: dict[tuple[int, int], deque[LogReference]] = {
            (chain.account_index, chain.region_index): deque() for chain in self._chains
        }
        self._signatures: dict[str, str] = {}
        scheduled = [
            _Scheduled(check.delivery, "other", check.key, check.content, compress=False)
            for check in generator.writability_checks()
        ]
        if insights:
            scheduled += [
                _Scheduled(i.delivery, "insight", i.key, i.content, compress=True, events=i.events)
                for i in generator.insight_files()
            ]
        maker = PoisonMaker(generator.world, seed)
        #: The poison objects mixed in, with what ingest must make of each.
        self.poison: list[PoisonFile] = []
        for kind, at in poison:
            file, data = maker.make(kind, _seconds(at))
            self.poison.append(file)
            scheduled.append(_Scheduled(_seconds(at), "poison", file.key, data, compress=False))
        self._scheduled = sorted(scheduled, key=lambda s: (s.at, _RANK[s.kind], s.key))
        #: The first moment of the trail's span.
        self.start = _moment(span.first)
        #: Advancing to this moment writes every object of the trail.
        self.end = _moment(max([self._last_digest_end(), *(s.at for s in scheduled)]) + 1)
        self._now = span.first
        #: Everything written so far, in the order it was written.
        self.delivered: list[Delivery] = []

    @property
    def now(self) -> dt.datetime:
        """How far the trail has been advanced: everything delivered before it exists."""
        return _moment(self._now)

    @property
    def finished(self) -> bool:
        """Whether every object of the trail has been written."""
        return self._now >= _seconds(self.end)

    def _last_digest_end(self) -> int:
        ends = [self._last_log]
        for chain in self._chains:
            hours = max(0, (self._last_log - chain.end) // 3600 + 1)
            ends.append(chain.end + hours * 3600)
        return max(ends)

    def advance(self, to: dt.datetime) -> list[Delivery]:
        """Write every object delivered before ``to`` and not written yet, in delivery order.

        A naive ``to`` is taken as UTC; advancing to an earlier moment writes nothing.
        :returns: what was written by this call.
        """
        until = _seconds(to)
        if until <= self._now:
            return []
        due: list[tuple[int, int, str, bytes, Delivery]] = []

        def add(at: int, kind: ObjectKind, key: str, data: bytes, events: int = 0) -> None:
            due.append((at, _RANK[kind], key, data, Delivery(key, _moment(at), kind, events)))

        for log in self._logs_before(until):
            waiting = self._waiting.get((log.account, log.region))
            if waiting is not None:
                waiting.append(log.reference)
            events = log.unique_events + log.redelivered_events
            add(log.reference.delivery, "log", log.key, gzip(log.content, self.level), events)
        while self._scheduled and self._scheduled[0].at < until:
            item = self._scheduled.pop(0)
            data = gzip(item.data, self.level) if item.compress else item.data
            add(item.at, item.kind, item.key, data, item.events)
        digests = self._close_digests(until)
        for digest in digests:
            add(digest.end, "digest", digest.key, gzip(digest.content, self.level))
            if self._signer is not None:
                self._signatures[digest.key] = digest.signature
        due.sort(key=lambda item: item[:3])
        for _, _, key, data, _ in due:
            self.sink.put(key, data)
        if digests and self._signer is not None:
            listing = orjson.dumps(
                self._signatures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
            )
            self.sink.put(SIGNATURES_FILE, listing)
            self.sink.put(PUBLIC_KEY_FILE, self._signer.public_key_pem())
        self._now = until
        written = [item[4] for item in due]
        self.delivered.extend(written)
        logger.debug("live trail at %s: %d objects written", to.isoformat(), len(written))
        return written

    def _logs_before(self, until: int) -> Iterator[LogFile]:
        """Log files delivered before ``until``, generated in plan order (as synth_trail)."""
        while True:
            if self._next_log is None:
                self._next_log = next(self._logs, None)
                if self._next_log is None:
                    return
            if self._next_log.reference.delivery >= until:
                return
            yield self._next_log
            self._next_log = None

    def _close_digests(self, until: int) -> list[DigestFile]:
        """The digests whose hour ended before ``until``, chain by chain."""
        closed: list[DigestFile] = []
        open_chains: list[DigestChain] = []
        for chain in self._chains:
            waiting = self._waiting[(chain.account_index, chain.region_index)]
            finished = False
            while chain.end < until:
                while waiting and waiting[0].delivery < chain.end:
                    chain.add(waiting.popleft())
                digest = chain.close()
                closed.append(digest)
                if digest.end > self._last_log:
                    finished = True
                    break
            if not finished:
                open_chains.append(chain)
        self._chains = open_chains
        return closed
