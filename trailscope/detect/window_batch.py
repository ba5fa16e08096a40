"""Windowed rules on DuckDB from one scan of the lake.

A windowed rule (a burst, a count of distinct values, a sequence) needs its events in order,
so it cannot be folded into the filter scan of :mod:`.batch`. Run one by one, each would read
every file of the time range again. Here the events any of them can use are read once (those
whose name one of the rules' steps asks for, and that meet a step's condition), kept in memory,
and the rules' queries then run over that small table: a second connection to the engine's
database (its macros and settings) where a temporary view named ``cloudtrail`` over the kept
events hides the lake's. The counting rules share one query there
(:func:`trailscope.detect.windows.counts_sql`); sequences run one by one. The findings are
the same as on the lake (a test compares the two); rules whose steps do not pin the event
names still run alone.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trailscope.decode.schema import PARTITION
from trailscope.detect.batch import condition_names, names_wanted
from trailscope.detect.model import Rule, Window
from trailscope.detect.query import placeholders
from trailscope.detect.windows import counts_sql


def window_batchable(rule: Rule) -> bool:
    """A windowed rule each of whose steps names the events it wants."""
    if rule.window is None:
        return False
    return all(condition_names(step.condition) for step in rule.window.steps)


def _events_sql(rules: list[Rule], columns: list[str] | None = None) -> str:
    """The events any step of ``rules`` can use; with ``columns``, only those of the lake's
    columns the rules' SQL names (the scan's result is kept in memory: its JSON text was most
    of it)."""
    tests: list[str] = []
    conditions = []
    for rule in rules:
        assert rule.window is not None
        for step in rule.window.steps:
            tests.extend(condition_names(step.condition) or [])
            conditions.append(f"({step.condition})")
    wanted = "*" if columns is None else ", ".join(_used(rules, columns))
    return (
        f"SELECT {wanted} FROM cloudtrail\n"
        "WHERE eventtime >= :since AND eventtime <= :until\n"
        f"  AND ({names_wanted(tests)})\n"
        f"  AND ({' OR '.join(conditions)})"
    )


def _used(rules: list[Rule], columns: list[str]) -> list[str]:
    """The columns whose name appears as a word in a rule's SQL (a superset of those it reads:
    a name inside a JSON path or a string counts too), and those every translated query may
    name: the time bounds become bounds on the partition column too."""
    text = " ".join(r.sql or "" for r in rules).lower()
    words = set(re.findall(r"[a-z_][a-z0-9_]*", text)) | {"eventid", "eventtime", PARTITION}
    return [c for c in columns if c.lower() in words]


def run_windowed(
    engine: Any,
    rules: list[Rule],
    bound: list[dict[str, Any]],
    *,
    timeout: float | None,
) -> list[pa.Table]:
    """The finding rows of each rule (``bound[i]``: rule i's parameter values)."""
    from trailscope.engines import prepare

    since = min(b.get("lookback_since", b["since"]) for b in bound)
    times = {"since": since, "until": max(b["until"] for b in bound)}
    columns = engine.query("SELECT * FROM cloudtrail LIMIT 0").column_names
    scan = prepare(engine.name, _events_sql(rules, columns), params=times)
    events = engine.query(scan.sql, timeout=timeout, params=times)
    twin = engine.cursor()
    try:
        twin.con.register("_window_events", events)
        twin.con.execute("CREATE TEMP VIEW cloudtrail AS SELECT * FROM _window_events")
        out: dict[int, pa.Table] = {}
        counting = [i for i, r in enumerate(rules) if _counting(r)]
        if counting:
            items = [
                (
                    _window(rules[i]),
                    rules[i].exclude,
                    rules[i].target,
                    int(bound[i]["window_minutes"]),
                    int(bound[i]["threshold"]) if "threshold" in bound[i] else None,
                )
                for i in counting
            ]
            times = {"since": bound[0]["since"], "until": bound[0]["until"]}
            translated = prepare("duckdb", counts_sql(items), params=times)
            table = twin.query(translated.sql, timeout=timeout, params=times)
            for number, i in enumerate(counting):
                mine = table.filter(pc.equal(table.column("rk"), number))
                out[i] = mine.drop_columns(["rk"])
        for i, rule in enumerate(rules):
            if i in out:
                continue
            values = bound[i]
            used = {k: v for k, v in values.items() if k in placeholders(rule.sql)}
            translated = prepare("duckdb", rule.sql, params=used)
            out[i] = twin.query(translated.sql, timeout=timeout, params=used)
        return [out[i] for i in range(len(rules))]
    finally:
        twin.close()


def _window(rule: Rule) -> Window:
    assert rule.window is not None
    return rule.window


def _counting(rule: Rule) -> bool:
    """Counts without a baseline share one query; sequences in order run alone."""
    window = _window(rule)
    return window.kind != "temporal_ordered" and not window.new_for
