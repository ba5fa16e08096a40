"""The SQL of a rule: the finding query around a filter, the windowed SQL of a count or a
correlation (:mod:`.windows`), or the user's own query, with the tuning's exclusions applied.

Every query returns the finding columns (:data:`~trailscope.detect.model.FINDING_COLUMNS`)
and reads only ``eventtime >= :since AND eventtime <= :until`` (rules that compare with a
baseline also read from ``:lookback_since``), so the engines read only those days.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from trailscope.detect.model import Rule
from trailscope.detect.windows import window_sql
from trailscope.vocabulary import ACCOUNT, OUTCOME, PRINCIPAL, REGION, SOURCE_IP

#: The group keys of a filter rule's findings, as named in ``Finding.group``.
FILTER_GROUP = ("principal", "source_ip", "account", "region", "outcome")


def filter_sql(condition: str, *, target: str | None = None) -> str:
    """The query around a filter: one finding per principal, address, account, region and
    outcome (calls that worked apart from calls that failed)."""
    targets = f",\n       array_agg(DISTINCT {target}) AS targets" if target else ""
    return (
        "SELECT min(eventtime) AS first_seen,\n"
        "       max(eventtime) AS last_seen,\n"
        f"       {PRINCIPAL} AS principal,\n"
        f"       {SOURCE_IP} AS source_ip,\n"
        f"       {ACCOUNT} AS account,\n"
        f"       {REGION} AS region,\n"
        "       count(*) AS event_count,\n"
        "       array_agg(eventid ORDER BY eventtime, eventid) AS event_ids,\n"
        f"       {OUTCOME} AS outcome{targets}\n"
        "FROM cloudtrail\n"
        "WHERE eventtime >= :since AND eventtime <= :until\n"
        f"  AND ({condition.strip()})\n"
        "GROUP BY 3, 4, 5, 6, 9"
    )


def finish(rule: Rule) -> Rule:
    """Set the rule's SQL and look-back from its logic and tuning; returns the rule."""
    if rule.condition is not None:
        condition = rule.filter_condition
        assert condition is not None
        rule.sql = filter_sql(condition, target=rule.target)
        rule.lookback = timedelta(0)
    elif rule.window is not None:
        rule.sql = window_sql(rule.window, exclude=rule.exclude, target=rule.target)
        rule.lookback = _window_lookback(rule)
    else:
        assert rule.query is not None
        rule.sql = rule.query
        rule.lookback = _window_lookback(rule)
    return rule


def _window_lookback(rule: Rule) -> timedelta:
    minutes = next((p.default for p in rule.params if p.name == "window_minutes"), 0)
    baseline = rule.window.baseline_days if rule.window is not None else 0
    # a whole-query rule with a learning period names it as its baseline_days parameter
    baseline = baseline or next((p.default for p in rule.params if p.name == "baseline_days"), 0)
    return max(timedelta(minutes=int(minutes or 0)), timedelta(days=baseline))


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|--[^\n]*|(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def placeholders(sql: str) -> frozenset[str]:
    """The ``:name`` parameters a query uses (DuckDB refuses values for names it lacks):
    read from the text outside string literals and comments, without parsing the query."""
    return frozenset(m.group(1) for m in _PLACEHOLDER.finditer(sql) if m.group(1))
