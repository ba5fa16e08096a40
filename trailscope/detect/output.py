"""Findings out as CSV, JSON or NDJSON: the formats CI jobs, SIEMs and spreadsheets take.

JSON and NDJSON carry every field as :meth:`Finding.to_json` gives it; CSV has one row per
finding with lists (event ids, MITRE techniques) joined by spaces, since neither contains one.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

import orjson

from trailscope.detect.model import Finding

FORMATS = ("table", "csv", "json", "ndjson")

CSV_COLUMNS = (
    "severity",
    "rule_id",
    "title",
    "mitre",
    "first_seen",
    "last_seen",
    "principal",
    "source_ip",
    "account",
    "region",
    "event_count",
    "detail",
    "event_ids",
)


def write_findings(findings: Iterable[Finding], fmt: str, out: IO[str]) -> int:
    """Write findings in ``fmt`` (csv, json, ndjson); returns how many were written."""
    rows = [f.to_json() for f in findings]
    if fmt == "json":
        out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "ndjson":
        for row in rows:
            out.write(orjson.dumps(row).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(_csv_value(row[c]) for c in CSV_COLUMNS)
    else:
        raise ValueError(f"unknown findings format {fmt!r}")
    return len(rows)


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
