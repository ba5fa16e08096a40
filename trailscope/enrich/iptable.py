"""The ``ip_info`` side table: one row per distinct ``sourceipaddress`` in the lake.

Kept as a side table joined by address rather than columns written at ingest: the engines
read the same Parquet file (DuckDB, Spark and Athena agree by construction), a new database
or ranges file refreshes it in one small commit (``trailscope lake enrich``) without
rewriting any event, and a lake holds far fewer distinct addresses than events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from trailscope.enrich import kinds
from trailscope.enrich.awsranges import AwsRanges
from trailscope.enrich.countries import country
from trailscope.enrich.geodb import Locator

log = logging.getLogger(__name__)

TABLE = "ip_info"

SCHEMA = pa.schema(
    [
        pa.field("ip", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("country", pa.string()),
        pa.field("country_name", pa.string()),
        pa.field("asn", pa.int64()),
        pa.field("as_org", pa.string()),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("aws_service", pa.string()),
        pa.field("aws_region", pa.string()),
        pa.field("source", pa.string()),
        #: the syncToken of the ip-ranges.json used, on every row; None: AWS's ranges unknown
        pa.field("aws_ranges", pa.string()),
    ]
)


@dataclass
class Enricher:
    """Every source of knowledge about addresses, opened once."""

    locator: Locator
    ranges: AwsRanges | None = None

    @classmethod
    def open(
        cls,
        databases: Sequence[str | Path] = (),
        *,
        aws_ip_ranges: str | Path | None = None,
        fallback: bool = True,
    ) -> Enricher:
        """Open the user's databases and ranges file (a missing or damaged one is an
        :class:`~trailscope.enrich.EnrichError` naming it) and the bundled fallback."""
        ranges = AwsRanges(aws_ip_ranges) if aws_ip_ranges else None
        return cls(Locator(databases, fallback=fallback), ranges)

    def describe(self, value: str) -> dict[str, Any]:
        """One row of ``ip_info`` for the address (or service name) ``value``."""
        row: dict[str, Any] = {name: None for name in SCHEMA.names}
        row["ip"] = value
        row["aws_ranges"] = (self.ranges.sync_token or "unknown") if self.ranges else None
        if kinds.is_service_name(value):
            row["kind"], row["aws_service"] = kinds.AWS_SERVICE, value.strip()
            return row
        ip = kinds.parse_ip(value)
        if ip is None:
            row["kind"] = kinds.UNKNOWN
            return row
        special = kinds.special_kind(ip)
        if special:
            row["kind"] = special
            return row
        place = self.locator.lookup(ip)
        sources = list(place.sources)
        hit = self.ranges.lookup(ip) if self.ranges else None
        if hit is not None:
            row["aws_service"], row["aws_region"] = hit.service, hit.region
            sources.append(self.ranges.name if self.ranges else "ip-ranges")
        known = place.country is not None or place.asn is not None
        row["kind"] = kinds.AWS_RANGE if hit else kinds.PUBLIC if known else kinds.UNKNOWN
        info = country(place.country)
        row.update(
            country=place.country,
            country_name=info.name if info else None,
            asn=place.asn,
            as_org=place.as_org,
            latitude=place.latitude if place.latitude is not None else _lat(info),
            longitude=place.longitude if place.longitude is not None else _lon(info),
            source="+".join(sources) or None,
        )
        return row

    def table(self, values: Iterable[str]) -> pa.Table:
        """``ip_info`` for the distinct non-empty ``values``, sorted by address."""
        rows = [self.describe(v) for v in sorted({v for v in values if v})]
        return pa.Table.from_pylist(rows, schema=SCHEMA)

    def close(self) -> None:
        self.locator.close()


@dataclass
class EnrichReport:
    """What ``lake enrich`` did: addresses by kind, how many got a country and a network."""

    addresses: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    with_country: int = 0
    with_asn: int = 0
    sources: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "addresses": self.addresses,
            "by_kind": self.by_kind,
            "with_country": self.with_country,
            "with_asn": self.with_asn,
            "sources": self.sources,
        }


def enrich_lake(
    lake: Any,
    databases: Sequence[str | Path] = (),
    *,
    aws_ip_ranges: str | Path | None = None,
    fallback: bool = True,
) -> EnrichReport:
    """Describe every distinct source address of ``lake`` and commit it as ``ip_info``.

    Every address is looked up again, so a newer database or ranges file replaces what an
    older one said; the events are not touched.
    """
    enricher = Enricher.open(databases, aws_ip_ranges=aws_ip_ranges, fallback=fallback)
    try:
        found = lake.query(
            "SELECT DISTINCT sourceipaddress FROM cloudtrail WHERE sourceipaddress IS NOT NULL"
        )
        values = [v for v in found.column(0).to_pylist() if v]
        table = enricher.table(values)
    finally:
        enricher.close()
    lake.update_table(TABLE, lambda _current: table, operation="enrich")
    report = EnrichReport(addresses=table.num_rows, sources=enricher.locator.names)
    if enricher.ranges:
        report.sources.append(enricher.ranges.name)
    for k in table.column("kind").to_pylist():
        report.by_kind[k] = report.by_kind.get(k, 0) + 1
    report.with_country = table.num_rows - table.column("country").null_count
    report.with_asn = table.num_rows - table.column("asn").null_count
    log.info("ip_info: %d addresses", table.num_rows)
    return report


def _lat(info: Any) -> float | None:
    return info.latitude if info else None


def _lon(info: Any) -> float | None:
    return info.longitude if info else None
