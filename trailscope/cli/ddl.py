"""A pasted Athena ``CREATE EXTERNAL TABLE`` for CloudTrail, explained instead of refused.

People arrive with the DDL of an Athena guide in hand. ``trailscope query`` given one says
which lake column each of its columns and partition columns is, and which ``ingest`` command
reads the files its LOCATION points at. The DDL is read with regular expressions, not with
sqlglot, whose Hive DDL support falls back to a warning on stderr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.table import Table

from trailscope.cli.base import cell, err, out, safe

_CREATE = re.compile(
    r"^\s*CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\"\w.]+)\s*\(", re.IGNORECASE
)
_PARTITIONED = re.compile(r"\bPARTITIONED\s+BY\s*\(", re.IGNORECASE)
_LOCATION = re.compile(r"\bLOCATION\s+'([^']*)'", re.IGNORECASE)
_TEMPLATE = re.compile(r"'storage\.location\.template'\s*=\s*'([^']*)'", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

#: What each partition column of the common Athena CloudTrail DDLs is in the lake.
PARTITION_MEANING = {
    "timestamp": "event_date, as yyyy/MM/dd",
    "date": "event_date, as yyyy/MM/dd",
    "date_partition": "event_date, as yyyy/MM/dd",
    "dt": "event_date",
    "year": "the year of event_date",
    "month": "the month of event_date",
    "day": "the day of event_date",
    "region": "awsregion",
    "region_partition": "awsregion",
    "account": "recipientaccountid (the account the trail delivered for)",
    "account_partition": "recipientaccountid",
}


@dataclass
class Ddl:
    """What a CloudTrail DDL declares."""

    table: str
    columns: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    location: str | None = None
    template: str | None = None


def read_ddl(text: str) -> Ddl | None:
    """The table, columns, partitions and location of a ``CREATE EXTERNAL TABLE``; None when
    ``text`` is something else."""
    body = _COMMENT.sub("", text)
    m = _CREATE.match(body)
    if m is None:
        return None
    ddl = Ddl(table=m.group(1).replace("`", "").replace('"', ""))
    ddl.columns = _names(_group(body, m.end() - 1))
    p = _PARTITIONED.search(body, m.end())
    if p is not None:
        ddl.partitions = _names(_group(body, p.end() - 1))
    loc = _LOCATION.search(body)
    ddl.location = loc.group(1).strip() if loc else None
    tpl = _TEMPLATE.search(body)
    ddl.template = tpl.group(1).strip() if tpl else None
    return ddl


def _group(text: str, start: int) -> str:
    """The text inside the parenthesis opening at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "(<":
            depth += 1
        elif text[i] in ")>":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return text[start + 1 :]


def _names(inner: str) -> list[str]:
    """Top-level column names of ``name TYPE, name STRUCT<...>, ...``."""
    names: list[str] = []
    part: list[str] = []
    depth = 0
    for ch in inner + ",":
        if ch in "(<":
            depth += 1
        elif ch in ")>":
            depth -= 1
        if ch == "," and depth == 0:
            words = "".join(part).split()
            if words:
                names.append(words[0].strip('`"').lower())
            part = []
        else:
            part.append(ch)
    return names


def ingest_command(ddl: Ddl, lake: str) -> str | None:
    """The ``trailscope ingest`` line for the files of the DDL's LOCATION (or its template)."""
    location = ddl.location or ddl.template
    if not location or not location.lower().startswith("s3://"):
        return None
    bucket, _, key = location[5:].partition("/")
    parts = [p for p in key.split("/") if p]
    prefix: list[str] = []
    flags: list[str] = []
    for i, part in enumerate(parts):
        concrete = "${" not in part and "<" not in part
        if part == "AWSLogs" or (prefix and prefix[-1] == "AWSLogs" and _ORG.match(part)):
            prefix.append(part)
        elif "AWSLogs" not in prefix:
            if not concrete:
                break
            prefix.append(part)
        elif _ACCOUNT.match(part):
            flags += ["-a", part]
        elif _REGION.match(part) and i > 0 and parts[i - 1] == "CloudTrail":
            flags += ["-r", part]
    source = f"s3://{bucket}/" + "".join(p + "/" for p in prefix)
    return " ".join(["trailscope ingest", source, "--lake", lake, *flags])


def explain_ddl(text: str, lake: str = "./lake") -> bool:
    """Print what a pasted CloudTrail DDL means for the lake; False when ``text`` is not one."""
    from trailscope.engines.columns import table_columns

    ddl = read_ddl(text)
    if ddl is None:
        return False
    known = {c.name for c in table_columns()}
    out.print(
        f"This is Athena DDL for table {safe(ddl.table)}; trailscope has no tables to create: "
        "every query naming it (or any other table) reads the lake's table 'cloudtrail'.",
        highlight=False,
        soft_wrap=True,
    )
    t = Table("DDL column", "lake column", box=None, title="columns", title_justify="left")
    for name in ddl.columns:
        t.add_row(cell(name), cell(name if name in known else "not in the lake (reads NULL)"))
    out.print(t)
    if ddl.partitions:
        t = Table("partition", "lake column", box=None, title="partitions", title_justify="left")
        for name in ddl.partitions:
            meaning = PARTITION_MEANING.get(name, "no such column in the lake")
            t.add_row(cell(name), cell(f"{name} = {meaning}" if name in known else meaning))
        out.print(t)
    command = ingest_command(ddl, lake)
    if command:
        out.print("To read the files of its LOCATION into the lake:", highlight=False)
        out.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
    err.print(
        "[dim]nothing was run; queries written for this table run unchanged with "
        "'trailscope query'[/]",
        highlight=False,
    )
    return True
