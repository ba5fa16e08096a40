"""AWS's published address ranges (``ip-ranges.json``), as given by the user.

The file lists every prefix AWS announces, with its service (``EC2``, ``S3``, ... and the
catch-all ``AMAZON``) and region. An address in one of them is AWS's: an instance, a NAT
gateway, a Lambda function, or a service endpoint.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailscope.enrich.errors import EnrichError
from trailscope.enrich.kinds import IPAddress


@dataclass(frozen=True)
class AwsRange:
    """The most specific published prefix holding an address."""

    prefix: str
    service: str
    region: str


class AwsRanges:
    """Longest-prefix lookup over the ranges of one ``ip-ranges.json``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            raise EnrichError(
                f"{self.path}: no such file", hint="download ip-ranges.json from AWS first"
            ) from None
        except (OSError, ValueError) as e:
            raise EnrichError(f"{self.path}: not a JSON document ({_first_line(e)})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("prefixes"), list):
            raise EnrichError(
                f"{self.path}: not AWS's ip-ranges.json (no 'prefixes' list)",
                hint="give the file AWS publishes as ip-ranges.json",
            )
        self.sync_token = str(doc.get("syncToken", ""))
        # per IP version: prefix length -> network address -> (services, region)
        self._by_len: dict[int, dict[int, dict[int, tuple[set[str], str]]]] = {4: {}, 6: {}}
        for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
            for i, entry in enumerate(doc.get(key) or []):
                self._add(entry, field, key, i)

    def _add(self, entry: Any, field: str, key: str, i: int) -> None:
        try:
            net = ipaddress.ip_network(str(entry[field]), strict=False)
            service, region = str(entry.get("service", "")), str(entry.get("region", ""))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise EnrichError(
                f"{self.path}: entry {i + 1} of '{key}' has no valid '{field}'"
            ) from None
        table = self._by_len[net.version].setdefault(net.prefixlen, {})
        services, _ = table.setdefault(int(net.network_address), (set(), region))
        services.add(service)

    def lookup(self, ip: IPAddress) -> AwsRange | None:
        """The most specific range holding ``ip``, or None if AWS does not publish it."""
        bits = ip.max_prefixlen
        value = int(ip)
        for length in sorted(self._by_len[ip.version], reverse=True):
            mask = ((1 << length) - 1) << (bits - length) if length else 0
            hit = self._by_len[ip.version][length].get(value & mask)
            if hit is not None:
                services, region = hit
                specific = sorted(services - {"AMAZON"}) or ["AMAZON"]
                net = ipaddress.ip_network((value & mask, length))
                return AwsRange(str(net), specific[0], region)
        return None


def _first_line(e: BaseException) -> str:
    return (str(e).strip() or type(e).__name__).splitlines()[0]
