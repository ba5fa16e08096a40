"""Shell completion of the names a command line takes: saved queries, their parameters, rule
ids, engines, severities and time zones (``trailscope --install-completion`` sets it up).

A completer never fails: a broken query folder or rule file completes nothing rather than
printing a traceback into the user's shell.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import typer

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "athena", "spark")
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    return sorted(v for v in set(values) if v.startswith(incomplete))


def _extra_dirs(ctx: typer.Context | None) -> list[Path]:
    given = (ctx.params.get("extra") if ctx is not None else None) or []
    return [Path(p) for p in given]


def complete_saved_query(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names of the saved queries (the bundled ones and --queries-dir's)."""
    from trailscope.queries import load_library

    try:
        return _matching(load_library(_extra_dirs(ctx)), incomplete)
    except Exception:
        log.debug("no saved-query names to complete", exc_info=True)
        return []


def complete_param(ctx: typer.Context, incomplete: str) -> list[str]:
    """``NAME=`` for each parameter of the saved query named on the line."""
    from trailscope.queries import load_library

    try:
        # an option still waiting for its value leaves the line unparsed, in ctx.args
        name = ctx.params.get("name") or next(iter(ctx.args), "")
        saved = load_library(_extra_dirs(ctx)).get(str(name))
    except Exception:
        log.debug("no saved-query parameters to complete", exc_info=True)
        return []
    if saved is None:
        return []
    return _matching((f"{p.name}=" for p in saved.params), incomplete)


def complete_rule_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Ids of the built-in rules and of the rules in --rules folders."""
    from trailscope.detect import load_rules

    folders = [Path(p) for p in (ctx.params.get("rules") or [])]
    try:
        ruleset = load_rules(folders, include_builtin=not ctx.params.get("no_builtin"))
    except Exception:
        log.debug("no rule ids to complete", exc_info=True)
        return []
    return _matching((r.id for r in ruleset.rules), incomplete)


def complete_engine(incomplete: str) -> list[str]:
    return _matching(ENGINES, incomplete)


def complete_severity(incomplete: str) -> list[str]:
    return _matching(SEVERITIES, incomplete)


def complete_zone(incomplete: str) -> list[str]:
    """IANA zone names (``Asia/To`` completes ``Asia/Tokyo``)."""
    from zoneinfo import available_timezones

    return _matching(available_timezones() | {"UTC"}, incomplete)


def complete_findings_format(incomplete: str) -> list[str]:
    return _matching(("table", "csv", "json", "ndjson"), incomplete)
