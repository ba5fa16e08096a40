"""Suppressions: what a team decided not to be alerted about, kept as data in the lake.

A suppression names any of a rule (glob), an account, a principal (glob, e.g.
``arn:aws:iam::*:user/ci-*``) and a source address or network; a finding matches when every
criterion given matches. It lasts for a duration or for ever, and says why (its note).
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from trailscope.findings.errors import FindingsError
from trailscope.findings.store import iso

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``12h``, ``30d``, ``2w``."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise FindingsError(
            f"cannot read duration {text!r}", hint="write a number and a unit: 30m, 12h, 30d, 2w"
        )
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def check_network(text: str) -> str:
    """A source address or network as typed (``203.0.113.7``, ``10.0.0.0/8``), checked."""
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise FindingsError(
            f"not an IP address or network: {text!r}",
            hint="write an address (203.0.113.7) or a CIDR network (203.0.113.0/24)",
        ) from None
    return text.strip()


def new_suppression(
    *,
    rule: str | None,
    account: str | None,
    principal: str | None,
    source_ip: str | None,
    duration: timedelta | None,
    note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A suppression row; at least one criterion is needed (none would silence everything)."""
    if not any((rule, account, principal, source_ip)):
        raise FindingsError(
            "a suppression needs at least one of --rule, --account, --principal, --source-ip",
            hint="a suppression without criteria would silence every finding",
        )
    if source_ip:
        source_ip = check_network(source_ip)
    criteria = "\n".join(str(v or "") for v in (rule, account, principal, source_ip, iso(now)))
    return {
        "suppression_id": "s-" + hashlib.sha256(criteria.encode()).hexdigest()[:10],
        "rule": rule,
        "account": account,
        "principal": principal,
        "source_ip": source_ip,
        "created_at": iso(now),
        "expires_at": iso(now + duration) if duration else None,
        "removed_at": None,
        "note": note,
    }


def is_active(suppression: dict[str, Any], now: datetime) -> bool:
    if suppression.get("removed_at"):
        return False
    expires = suppression.get("expires_at")
    return not expires or iso(now) < expires


def matches(suppression: dict[str, Any], finding: dict[str, Any]) -> bool:
    """Whether every criterion the suppression gives matches the finding (a stored row)."""
    rule, account = suppression.get("rule"), suppression.get("account")
    principal, network = suppression.get("principal"), suppression.get("source_ip")
    if rule and not fnmatch.fnmatchcase(finding.get("rule_id") or "", rule):
        return False
    if account and not fnmatch.fnmatchcase(finding.get("account") or "", account):
        return False
    if principal and not fnmatch.fnmatchcase(finding.get("principal") or "", principal):
        return False
    return not network or _in_network(finding.get("source_ip"), network)


def _in_network(address: str | None, network: str) -> bool:
    """Source "addresses" may be service names (``ec2.amazonaws.com``): those never match."""
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.strip()) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def first_match(
    suppressions: list[dict[str, Any]], finding: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The oldest active suppression that covers the finding, if any."""
    for suppression in sorted(suppressions, key=lambda s: s.get("created_at") or ""):
        if is_active(suppression, now) and matches(suppression, finding):
            return suppression
    return None
