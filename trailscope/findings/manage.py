"""What a person does with stored findings: list, show, acknowledge, close, suppress.

Each change is one commit of the side tables it touches, so a suppression and the findings
it silences change together. The CLI (``trailscope findings``) and the web's Detections page
call these.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from trailscope.detect.model import Severity
from trailscope.findings.errors import FindingsError
from trailscope.findings.store import (
    FINDINGS,
    SUPPRESSIONS,
    Rows,
    commit_tables,
    iso,
    read_rows,
    utcnow,
)
from trailscope.findings.suppressions import first_match, is_active, matches, new_suppression

STATUSES = ("open", "acknowledged", "suppressed", "closed")
#: Characters that are glob syntax in a suppression pattern; a value from a finding is quoted.
_GLOB = re.compile(r"([*?\[])")
#: Shortest id prefix accepted for a finding.
MIN_PREFIX = 6


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise FindingsError(f"unknown status {status!r}", hint="one of: " + ", ".join(STATUSES))
    return status


def list_findings(
    lake: Any, *, status: str | None = None, rule: str | None = None
) -> list[dict[str, Any]]:
    """Stored findings, most severe and most recent first."""
    if status is not None:
        check_status(status)
    rows = [
        r
        for r in read_rows(lake, FINDINGS)
        if (status is None or r["status"] == status) and (rule is None or r["rule_id"] == rule)
    ]
    rows.sort(key=lambda r: r["last_seen"] or "", reverse=True)
    rows.sort(key=lambda r: -Severity.parse(r["severity"]))
    return rows


def resolve_id(rows: Rows, given: str) -> dict[str, Any]:
    """The finding ``given`` names: its id or a unique prefix of it (6 characters or more)."""
    text = (given or "").strip().lower()
    exact = [r for r in rows if r["finding_id"] == text]
    if exact:
        return exact[0]
    found = [r for r in rows if len(text) >= MIN_PREFIX and r["finding_id"].startswith(text)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise FindingsError(
            f"finding id {given!r} is ambiguous ({len(found)} findings start with it)",
            hint="give more characters of the id",
        )
    raise FindingsError(
        f"no finding with id {given!r}", hint="see 'trailscope findings' for the ids"
    )


def get_finding(lake: Any, finding_id: str) -> dict[str, Any]:
    return resolve_id(read_rows(lake, FINDINGS), finding_id)


def set_status(
    lake: Any, finding_id: str, status: str, *, note: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Acknowledge, close or reopen one finding (the note says why); returns it."""
    check_status(status)
    if status == "suppressed":
        raise FindingsError(
            "a finding is suppressed by a suppression",
            hint="use 'trailscope findings suppress --finding ID'",
        )
    stamp = iso(utcnow(now))
    changed: list[dict[str, Any]] = []

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[FINDINGS]
        row = resolve_id(rows, finding_id)
        row.update(status=status, status_at=stamp, suppression_id=None)
        if note is not None:
            row["note"] = note
        changed[:] = [row]
        return {FINDINGS: rows}

    commit_tables(lake, [FINDINGS], change, operation=f"finding {status}")
    return changed[0]


def list_suppressions(
    lake: Any, *, include_ended: bool = False, now: datetime | None = None
) -> Rows:
    when = utcnow(now)
    rows = read_rows(lake, SUPPRESSIONS)
    return [r for r in rows if include_ended or is_active(r, when)]


def quote_glob(value: str) -> str:
    """A value from the logs as a pattern that matches only itself."""
    return _GLOB.sub(r"[\1]", value)


def suppress(
    lake: Any,
    *,
    rule: str | None = None,
    account: str | None = None,
    principal: str | None = None,
    source_ip: str | None = None,
    finding: str | None = None,
    duration: timedelta | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], int]:
    """Add a suppression (``finding``: one like that finding: its rule, account and principal)
    and suppress the open findings it covers, in one commit. Returns it and how many."""
    when = utcnow(now)
    result: list[Any] = []

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        rows = tables[FINDINGS]
        crit = {"rule": rule, "account": account, "principal": principal, "source_ip": source_ip}
        if finding is not None:
            base = resolve_id(rows, finding)
            crit["rule"] = crit["rule"] or quote_glob(base["rule_id"])
            crit["account"] = crit["account"] or (
                quote_glob(base["account"]) if base["account"] else None
            )
            crit["principal"] = crit["principal"] or (
                quote_glob(base["principal"]) if base["principal"] else None
            )
        suppression = new_suppression(**crit, duration=duration, note=note, now=when)
        count = 0
        for row in rows:
            if row["status"] == "open" and matches(suppression, row):
                row.update(
                    status="suppressed",
                    status_at=iso(when),
                    suppression_id=suppression["suppression_id"],
                )
                count += 1
        result[:] = [suppression, count]
        return {FINDINGS: rows, SUPPRESSIONS: [*tables[SUPPRESSIONS], suppression]}

    commit_tables(lake, [FINDINGS, SUPPRESSIONS], change, operation="suppress")
    return result[0], result[1]


def unsuppress(
    lake: Any, suppression_id: str, *, now: datetime | None = None
) -> tuple[dict[str, Any], int]:
    """End a suppression; the findings only it covered are open again. Returns it and how
    many findings reopened."""
    when = utcnow(now)
    result: list[Any] = []

    def change(tables: dict[str, Rows]) -> dict[str, Rows]:
        suppressions = tables[SUPPRESSIONS]
        found = [s for s in suppressions if s["suppression_id"] == suppression_id.strip()]
        if not found or found[0]["removed_at"]:
            raise FindingsError(
                f"no active suppression with id {suppression_id!r}",
                hint="see 'trailscope findings suppressions'",
            )
        found[0]["removed_at"] = iso(when)
        rows = tables[FINDINGS]
        count = 0
        for row in rows:
            if row["status"] == "suppressed" and row["suppression_id"] == suppression_id:
                other = first_match(suppressions, row, when)
                if other is None:
                    row.update(status="open", status_at=iso(when), suppression_id=None)
                    count += 1
                else:
                    row["suppression_id"] = other["suppression_id"]
        result[:] = [found[0], count]
        return {FINDINGS: rows, SUPPRESSIONS: suppressions}

    commit_tables(lake, [FINDINGS, SUPPRESSIONS], change, operation="unsuppress")
    return result[0], result[1]
