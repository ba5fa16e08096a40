"""Country, network and place of an address from MaxMind-format databases (GeoLite2/GeoIP2
City, Country and ASN, or IPinfo's MMDB files), with a bundled country fallback.

The fallback is the ``iptocc`` package: country codes from the regional internet registries'
delegation files, shipped inside the package and released as they change, so a fresh install
answers "which country" with no download (it knows no networks: ASN and AS organisation
need a database the user provides). See docs/lake.md for how it was chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trailscope.enrich.errors import EnrichError
from trailscope.enrich.kinds import IPAddress

log = logging.getLogger(__name__)

FALLBACK = "iptocc"


@dataclass
class Place:
    """What the databases know of one address; every field may be unknown."""

    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sources: list[str] = field(default_factory=list)

    def merge(self, other: Place, source: str) -> None:
        """Fill what is still unknown from ``other`` (the first database to answer wins)."""
        took = False
        for name in ("country", "asn", "as_org", "latitude", "longitude"):
            if getattr(self, name) is None and getattr(other, name) is not None:
                setattr(self, name, getattr(other, name))
                took = True
        if took and source not in self.sources:
            self.sources.append(source)


class GeoDatabase:
    """One MaxMind-format file, opened once and read by many lookups."""

    def __init__(self, path: str | Path) -> None:
        import maxminddb

        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise EnrichError(
                f"{self.path}: no such database file",
                hint="give the path of a .mmdb file (GeoLite2-City, -Country, -ASN or IPinfo)",
            )
        try:
            self._reader = maxminddb.open_database(str(self.path))
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as e:
            raise EnrichError(
                f"{self.path}: not a readable MaxMind database ({_first_line(e)})",
                hint="download the file again; a .tar.gz must be unpacked to its .mmdb",
            ) from None
        self.database_type = str(self._reader.metadata().database_type)

    def lookup(self, ip: IPAddress) -> Place:
        """What this database says of ``ip`` (an empty place if it has no network for it)."""
        import maxminddb

        try:
            record = self._reader.get(ip)
        except maxminddb.InvalidDatabaseError as e:
            raise EnrichError(
                f"{self.path}: the database is damaged ({_first_line(e)})",
                hint="download the file again",
            ) from None
        except ValueError:
            return Place()  # an IPv6 address asked of an IPv4-only database
        return place_of(record) if isinstance(record, dict) else Place()

    def close(self) -> None:
        self._reader.close()


def place_of(record: dict[str, Any]) -> Place:
    """A record of any of the known layouts (MaxMind City/Country/ASN, IPinfo) as a place."""
    p = Place()
    country = record.get("country")
    if isinstance(country, dict):
        p.country = _str(country.get("iso_code"))
    elif isinstance(country, str) and len(country) == 2:
        p.country = country.upper()  # IPinfo's country file
    if p.country is None:
        p.country = _str(record.get("country_code"))  # IPinfo lite
        registered = record.get("registered_country")
        if p.country is None and isinstance(registered, dict):
            p.country = _str(registered.get("iso_code"))
    asn = record.get("autonomous_system_number", record.get("asn"))
    if isinstance(asn, int):
        p.asn = asn
    elif isinstance(asn, str) and asn.upper().removeprefix("AS").isdigit():
        p.asn = int(asn.upper().removeprefix("AS"))
    p.as_org = _str(record.get("autonomous_system_organization", record.get("as_name")))
    location = record.get("location")
    if isinstance(location, dict):
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            p.latitude, p.longitude = float(lat), float(lon)
    return p


class Locator:
    """The user's databases in the order given, then the bundled country fallback."""

    def __init__(self, databases: Sequence[str | Path] = (), *, fallback: bool = True) -> None:
        self.databases = [GeoDatabase(p) for p in databases]
        self.fallback = fallback

    @property
    def names(self) -> list[str]:
        """The sources asked, for the record kept with the table."""
        return [d.name for d in self.databases] + ([FALLBACK] if self.fallback else [])

    def lookup(self, ip: IPAddress) -> Place:
        place = Place()
        for db in self.databases:
            place.merge(db.lookup(ip), db.name)
        if place.country is None and self.fallback:
            code = _fallback_country(str(ip))
            if code:
                place.merge(Place(country=code), FALLBACK)
        return place

    def lookup_many(self, ips: Iterable[IPAddress]) -> list[Place]:
        return [self.lookup(ip) for ip in ips]

    def close(self) -> None:
        for db in self.databases:
            db.close()


def _fallback_country(ip: str) -> str | None:
    import iptocc

    try:
        code = iptocc.country_code(ip)
    except ValueError:
        log.debug("iptocc could not read %r", ip)
        return None
    return code if isinstance(code, str) and code else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
