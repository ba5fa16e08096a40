"""A finding's stable id: its rule, the values it is grouped by, and the day it began.

Two runs over overlapping time see the same activity as findings with the same rule and group
key; the id ties them together so the second run updates the first finding instead of
reporting a new one. The time bucket (the UTC day of the first event) keeps activity that
stopped and came back weeks later apart.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson

from trailscope.detect.model import Finding

#: The time bucket of an id, and how close in time two sightings of the same rule and group
#: must be to count as one finding.
BUCKET = timedelta(days=1)


def group_key(finding: Finding) -> str:
    """The values the rule grouped by, as canonical JSON (sorted keys)."""
    group = dict(finding.group) or {
        "principal": finding.principal,
        "source_ip": finding.source_ip,
        "account": finding.account,
        "region": finding.region,
    }
    return orjson.dumps(group, option=orjson.OPT_SORT_KEYS).decode()


def bucket_of(first_seen: str | None) -> str:
    """The UTC day an activity began (``none`` when the rule gave no time)."""
    return first_seen[:10] if first_seen else "none"


def finding_id(rule_id: str, key: str, bucket: str) -> str:
    """16 hex digits of a SHA-256 over the three parts: short enough to type, and the same
    in every run and on every machine."""
    digest = hashlib.sha256(f"{rule_id}\n{key}\n{bucket}".encode()).hexdigest()
    return digest[:16]
