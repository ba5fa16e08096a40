"""What kind of address a ``sourceIPAddress`` is, before any database is asked.

CloudTrail writes an IP address, or a service's name when a service called on the
principal's behalf (``s3.amazonaws.com``, ``AWS Internal``). Private and reserved ranges are
the IANA special-purpose registries as Python's :mod:`ipaddress` knows them.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

AWS_SERVICE = "aws-service"
AWS_RANGE = "aws-range"
PRIVATE = "private"
RESERVED = "reserved"
PUBLIC = "public"
UNKNOWN = "unknown"

#: Every kind, in the order a breakdown lists them.
KINDS = (AWS_SERVICE, AWS_RANGE, PRIVATE, RESERVED, PUBLIC, UNKNOWN)

_SERVICE = re.compile(r"^(?:[a-z0-9-]+\.)+amazonaws\.com(?:\.cn)?$|^aws internal$", re.I)
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def parse_ip(value: str) -> IPAddress | None:
    """``value`` as an address (IPv4-mapped IPv6 as the IPv4 it carries), or None."""
    try:
        ip = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_service_name(value: str) -> bool:
    """True for the names CloudTrail writes when an AWS service made the call."""
    return bool(_SERVICE.match(value.strip()))


def special_kind(ip: IPAddress) -> str | None:
    """``private`` (RFC 1918, shared address space, unique local), ``reserved`` (loopback,
    link-local, documentation, multicast, ...), or None for a global address."""
    if any(ip in net for net in _PRIVATE_NETS if net.version == ip.version):
        return PRIVATE
    if not ip.is_global or ip.is_multicast:
        return RESERVED
    return None
