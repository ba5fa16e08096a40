"""``synth_trail``: write a whole synthetic trail into a folder and report what was written."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from trailscope.errors import TrailscopeError
from trailscope.synth.clock import DAY, WINDOW, Span, epoch_seconds
from trailscope.synth.digests import LogReference, Signer
from trailscope.synth.generator import TrailGenerator
from trailscope.synth.incidents import PlantedIncident
from trailscope.synth.keys import PUBLIC_KEY_FILE, SIGNATURES_FILE
from trailscope.synth.redelivery import Redelivery
from trailscope.synth.sinks import DirectorySink, gzip

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

#: Last day of a synthetic trail unless ``end`` is given (fixed so output never depends on today).
DEFAULT_END = dt.date(2024, 7, 17)
DEFAULT_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


@dataclass
class SynthReport:
    """What ``synth_trail`` wrote; the reference a correct ingest is checked against."""

    root: Path
    events: int
    log_events: int
    insight_events: int
    redelivered_events: int
    log_files: int
    insight_files: int
    digest_files: int
    other_files: int
    accounts: list[str]
    regions: list[str]
    days: list[dt.date]
    org_id: str | None
    incidents: list[PlantedIncident]
    files: list[Path] = field(default_factory=list)


class _FolderWriter:
    """Writes objects under the root, gzipped unless told otherwise, and lists them."""

    def __init__(self, root: Path, compresslevel: int) -> None:
        self.sink = DirectorySink(root)
        self.level = compresslevel
        self.files: list[Path] = []

    def write(self, key: str, data: bytes, *, compress: bool = True) -> None:
        self.sink.put(key, gzip(data, self.level) if compress else data)
        self.files.append(Path(key))


def _prepare(root: Path, overwrite: bool) -> None:
    """Refuse to mix two trails in one folder unless asked to replace the old one."""
    owned = [root / "AWSLogs", root / "_synth"]
    existing = [p for p in owned if p.exists()]
    if existing and not overwrite:
        raise TrailscopeError(
            f"{root} already holds a trail ({existing[0].name}/)",
            hint="choose an empty folder, or pass overwrite=True to replace it",
        )
    for p in existing:
        shutil.rmtree(p)
    root.mkdir(parents=True, exist_ok=True)


def trail_span(end: dt.date | dt.datetime | None, days: int) -> Span:
    """The time a trail covers: ``days`` calendar days ending on the date ``end``, or the
    ``days`` days before the moment ``end`` (to the five minutes, as CloudTrail delivers).

    A naive datetime is taken as UTC.
    """
    if isinstance(end, dt.datetime):
        moment = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
        last = int(moment.timestamp())
        last -= last % WINDOW
        return Span(last - days * DAY, days)
    first_day = (end or DEFAULT_END) - dt.timedelta(days=days - 1)
    return Span(epoch_seconds(first_day), days)


def incident_seconds(
    incidents: bool | Mapping[str, dt.datetime], span: Span
) -> bool | dict[str, int | None]:
    """Chosen incident moments as seconds, refused (ValueError) outside the trail's span."""
    if isinstance(incidents, bool):
        return incidents
    out: dict[str, int | None] = {}
    for name, moment in incidents.items():
        at = int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())
        if not span.first <= at < span.last:
            raise ValueError(f"incident {name} at {moment.isoformat()} is outside the trail")
        out[name] = at
    return out


def check_options(
    *,
    events: int,
    accounts: int,
    days: int,
    events_per_file: int,
    regions: tuple[str, ...],
    redeliver_fraction: float,
) -> None:
    """Refuse arguments no trail can be made from (ValueError, as for any bad argument)."""
    if events < 0:
        raise ValueError("events must be >= 0")
    if accounts < 1 or days < 1 or events_per_file < 1:
        raise ValueError("accounts, days and events_per_file must be >= 1")
    if not regions:
        raise ValueError("at least one region is needed")
    if len(set(regions)) != len(regions):
        raise ValueError("regions must be distinct")
    if not 0.0 <= redeliver_fraction < 1.0:
        raise ValueError("redeliver_fraction must be in [0, 1)")


def synth_trail(
    dest: Path | str,
    *,
    events: int = 200_000,
    seed: int = 7,
    accounts: int = 3,
    regions: tuple[str, ...] = DEFAULT_REGIONS,
    days: int = 7,
    end: dt.date | dt.datetime | None = None,
    org_id: str | None = None,
    events_per_file: int = 128,
    digests: bool = True,
    insights: bool = True,
    incidents: bool | Mapping[str, dt.datetime] = True,
    redeliver_fraction: float = 0.001,
    signing_key: RSAPrivateKey | None = None,
    progress: Callable[[int], None] | None = None,
    compresslevel: int = 2,
    overwrite: bool = False,
    geography: bool = False,
) -> SynthReport:
    """Write a deterministic, realistic CloudTrail trail under ``dest`` and report it.

    Log files go into ``CloudTrail/`` in the real S3 key layout, with Insight events, digest
    chains, re-delivered copies and planted incidents; the report says exactly what was
    written, so an ingest can be checked against it.

    :param dest: the folder to write (it must be empty or absent unless ``overwrite``).
    :param events: unique events in the log files (Insight events come on top).
    :param seed: the same seed writes the same bytes.
    :param accounts: how many AWS accounts the trail covers.
    :param regions: the regions it covers (distinct).
    :param days: calendar days covered, ending on ``end``.
    :param end: the last day (default :data:`DEFAULT_END`, so output never depends on
        today), or, as a datetime, the moment the trail ends (``datetime.now(UTC)`` gives a
        trail that ends now; its last files are delivered up to a quarter of an hour later
        and named so, and its digests run to the end of that hour). Stories keep their
        times of day either way.
    :param org_id: an organization id: the key layout of an organization trail.
    :param events_per_file: events per log file, on average.
    :param digests: write the hourly digest files.
    :param insights: write Insights events.
    :param incidents: plant every incident at its usual time (True), none (False), or the
        named ones (see ``report.incidents``) each starting at the moment given.
    :param redeliver_fraction: this fraction of the events is written a second time,
        byte-identical, in a later file (as CloudTrail sometimes delivers twice).
    :param signing_key: sign the digests; the signatures (which S3 would keep as object
        metadata) go to :data:`SIGNATURES_FILE`, the public key to :data:`PUBLIC_KEY_FILE`.
    :param progress: called with the number of unique events of each log file as it is
        written; the calls add up to ``report.log_events``.
    :param compresslevel: the gzip level (1-9).
    :param overwrite: replace a trail already in ``dest`` instead of refusing.
    :param geography: put people at home in a few countries (real providers' addresses)
        and plant a sign-in from a new country and an impossible journey (see the module
        trailscope.synth.geography); off, every address is a documentation one and the
        output is as before.
    """
    check_options(
        events=events,
        accounts=accounts,
        days=days,
        events_per_file=events_per_file,
        regions=regions,
        redeliver_fraction=redeliver_fraction,
    )
    root = Path(dest)
    _prepare(root, overwrite)
    generator = TrailGenerator(
        seed=seed,
        accounts=accounts,
        regions=regions,
        org_id=org_id,
        span=trail_span(end, days),
        geography=geography,
    )
    out = _FolderWriter(root, compresslevel)
    world = generator.world

    plans, planted = generator.plan(
        events, events_per_file, incident_seconds(incidents, generator.span)
    )
    redelivery = Redelivery(seed, redeliver_fraction)
    logs: dict[tuple[int, int], list[LogReference]] = {}
    log_events = redelivered = log_files = 0
    last_delivery = generator.span.last
    for log in generator.log_files(plans, redelivery):
        out.write(log.key, log.content)
        logs.setdefault((log.account, log.region), []).append(log.reference)
        log_files += 1
        log_events += log.unique_events
        redelivered += log.redelivered_events
        last_delivery = max(last_delivery, log.reference.delivery)
        if progress is not None:
            progress(log.unique_events)

    insight_events = insight_files = 0
    if insights:
        for insight in generator.insight_files():
            out.write(insight.key, insight.content)
            insight_files += 1
            insight_events += insight.events

    other_files = 0
    for check in generator.writability_checks():
        out.write(check.key, check.content, compress=False)
        other_files += 1

    digest_files = 0
    if digests:
        signer = Signer(signing_key) if signing_key is not None else None
        signatures: dict[str, str] = {}
        for chain in generator.digest_chains(signer):
            refs = logs.get((chain.account_index, chain.region_index), [])
            i = 0
            while True:
                while i < len(refs) and refs[i].delivery < chain.end:
                    chain.add(refs[i])
                    i += 1
                digest = chain.close()
                out.write(digest.key, digest.content)
                digest_files += 1
                if signer is not None:
                    signatures[digest.key] = digest.signature
                if digest.end > last_delivery and i >= len(refs):
                    break
        if signer is not None:
            listing = orjson.dumps(signatures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            out.write(SIGNATURES_FILE, listing, compress=False)
            out.write(PUBLIC_KEY_FILE, signer.public_key_pem(), compress=False)
            other_files += 2

    return SynthReport(
        root=root,
        events=log_events + insight_events,
        log_events=log_events,
        insight_events=insight_events,
        redelivered_events=redelivered,
        log_files=log_files,
        insight_files=insight_files,
        digest_files=digest_files,
        other_files=other_files,
        accounts=[account.id for account in world.accounts],
        regions=list(world.regions),
        days=generator.span.dates(),
        org_id=world.org_id,
        incidents=planted,
        files=out.files,
    )
