"""Counts and correlations over time windows, as one Athena SQL query (DuckDB, Athena, Spark).

A windowed rule (a built-in burst rule, a Sigma ``count()`` aggregation or a Sigma
correlation rule) is declared as a :class:`~trailscope.detect.model.Window`; this module
writes its SQL. The meaning, exactly:

* every event of a group (the events with the same values of the group keys) opens a window
  ``[t, t + W]`` (W = ``:window_minutes``, both ends included);
* ``event_count``: the window holds at least ``:threshold`` events; ``value_count``: at least
  ``:threshold`` distinct values of the counted field; ``temporal``: at least one event of
  every step; ``temporal_ordered``: events of the steps in their order (equal times count as
  in order), the first no more than W before the last;
* the events of the windows that qualify are the finding's events, and windows that overlap
  make one finding (so one finding per burst and group, with its first and last event).

The SQL needs no join of events with events: counts are a sweep over the ends of intervals
(each value's occurrences cover the window starts ``[t - W, t]``; overlapping ones are merged
first, so a value is counted once), correlations in order carry the latest possible start of
a chain from step to step with window functions. So the cost is a few sorts of the matching
events, whatever the size of the bursts.

On DuckDB, where planning a query of this shape costs more than running it on the few events
a rule keeps, the counting rules of a run go into one query (:func:`counts_sql`): the same
statements, with a rule number among the group keys and each rule's window and threshold as
columns instead of parameters.
"""

from __future__ import annotations

from trailscope.detect.model import Window
from trailscope.vocabulary import ACCOUNT, PRINCIPAL, REGION, SOURCE_IP

#: a rule's window in seconds, and what its counts must reach, in the one-rule form
_W = "(:window_minutes * 60)"
_ROWS = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
_BEFORE = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"


def window_sql(window: Window, *, exclude: str | None = None, target: str | None = None) -> str:
    """The finding query of a windowed rule."""
    keys = [f"g_{i + 1}" for i in range(max(1, len(window.group_by)))]
    ctes = [("ev", _events(window, keys, exclude, target))]
    if window.kind == "temporal_ordered":
        ctes += _ordered(window, keys)
    else:
        need = ":threshold" if window.counts else str(len(window.steps))
        ctes += _counted(window.kind, keys, _W, need)
    ctes += _bursts(keys, _W)
    body = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in ctes)
    return f"WITH {body}\n{_select(keys, _detail(window, ':window_minutes'), target, keys)}"


def counts_sql(
    items: list[tuple[Window, str | None, str | None, int, int | None]],
) -> str:
    """One query for several counting rules (event_count, value_count, temporal): ``items``
    are (window, exclude, target, window minutes, threshold) of each; the result has a column
    ``rk``, the item's number, to tell their findings apart."""
    width = max(max(1, len(w.group_by)) for w, *_ in items)
    keys = [f"g_{i + 1}" for i in range(width)]
    parts = []
    details = []
    for number, (window, exclude, target, minutes, threshold) in enumerate(items):
        need = threshold if window.counts else len(window.steps)
        constants = [f"{number} AS rk", f"{minutes * 60} AS ww", f"{need} AS nn"]
        parts.append(_events(window, keys, exclude, target, constants=constants))
        details.append(f"WHEN {number} THEN {_detail(window, str(minutes))}")
    by = ["rk", "ww", "nn", *keys]
    ctes = [("ev", "\n  UNION ALL\n".join(parts))]
    ctes += _counted("value_count", by, "ww", "nn")
    ctes += _bursts(by, "ww")
    body = ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in ctes)
    detail = "CASE rk " + " ".join(details) + " END"
    return f"WITH {body}\n{_select(by, detail, 'any', keys, extra=('rk',))}"


def _events(
    window: Window,
    keys: list[str],
    exclude: str | None,
    target: str | None,
    *,
    constants: list[str] | None = None,
) -> str:
    parts = []
    for number, step in enumerate(window.steps, start=1):
        groups = list(step.group_by or window.group_by or ("'*'",))
        groups += ["'*'"] * (len(keys) - len(groups))
        if window.kind == "value_count":
            value = window.field or "eventid"
        elif window.kind == "event_count":
            value = "eventid"
        else:
            value = str(number)
        columns = [
            "eventid",
            "eventtime",
            "to_unixtime(eventtime_ts) AS t",
            f"{number} AS step",
            *(constants or []),
            *(f"{g} AS {k}" for g, k in zip(groups, keys, strict=True)),
            f"CAST({value} AS varchar) AS v",
            f"CAST({window.weight or '1'} AS double) AS w",
            f"{PRINCIPAL} AS principal",
            f"{SOURCE_IP} AS source_ip",
            f"{ACCOUNT} AS account",
            f"{REGION} AS region",
            f"CAST({target or 'NULL'} AS varchar) AS target",
        ]
        since = ":lookback_since" if number == 1 and window.new_for else ":since"
        where = [
            f"eventtime >= {since} AND eventtime <= :until",
            f"({step.condition.strip()})",
            *(f"{g} IS NOT NULL" for g in groups if g != "'*'"),
            f"{value} IS NOT NULL",
        ]
        if exclude:
            where.append(f"NOT coalesce(({exclude}), false)")
        select = "  SELECT " + ",\n         ".join(columns) + "\n  FROM cloudtrail\n  WHERE "
        select += "\n    AND ".join(where)
        if number == 1 and window.new_for:
            names = [c.rsplit(" AS ", 1)[-1] for c in columns]
            select = _baseline(window, select, names)
        parts.append(select)
    return "\n  UNION ALL\n".join(parts)


def _baseline(window: Window, select: str, names: list[str]) -> str:
    """The first step's events whose ``new_for`` values (output names such as ``principal``,
    ``source_ip``) were not seen together in the baseline before, by a ``known_by`` already
    seen in it (so a principal with no history is not called new)."""
    new = ", ".join(window.new_for)
    known = ", ".join(window.known_by) or "step"
    days = f"({window.baseline_days} * 86400)"
    return (
        f"  SELECT {', '.join(names)}\n  FROM (\n    SELECT b.*, b.eventtime AS seen_at,\n"
        f"           lag(t) OVER (PARTITION BY {new} ORDER BY t, eventid) AS prev_same,\n"
        f"           lag(t) OVER (PARTITION BY {known} ORDER BY t, eventid) AS prev_known\n"
        f"    FROM (\n{select}\n    ) b\n  ) s\n"
        f"  WHERE seen_at >= :since\n"
        f"    AND (prev_same IS NULL OR t - prev_same > {days})\n"
        f"    AND prev_known IS NOT NULL AND t - prev_known <= {days}"
    )


def _on(keys: list[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)


def _counted(kind: str, keys: list[str], w: str, need: str) -> list[tuple[str, str]]:
    """Window starts where ``need`` values are present; the event windows that start there."""
    by = ", ".join(keys)
    ew = w if w.startswith("(") else f"e.{w}"  # a column of the events (one query, many rules)
    if kind == "event_count":  # every event is its own value: no merging needed
        islands = [("islands", f"  SELECT {by}, t - {w} AS s, t AS e, w\n  FROM ev")]
    else:  # per value, its occurrences' window starts [t - W, t], overlapping ones merged
        islands = [
            (
                "fresh",
                f"  SELECT {by}, v, t, eventid, w,\n"
                f"         CASE WHEN t - lag(t) OVER (PARTITION BY {by}, v ORDER BY t, eventid)"
                f" <= {w} THEN 0 ELSE 1 END AS fresh\n  FROM ev",
            ),
            (
                "runs",
                f"  SELECT {by}, v, t, w,\n"
                f"         sum(fresh) OVER (PARTITION BY {by}, v ORDER BY t, eventid {_ROWS})"
                " AS run\n  FROM fresh",
            ),
            (
                "islands",
                f"  SELECT {by}, min(t) - {w} AS s, max(t) AS e, max(w) AS w\n  FROM runs\n"
                f"  GROUP BY {by}, v, run",
            ),
        ]
    rest = [
        (
            "points",
            f"  SELECT {by}, s AS x, w AS d FROM islands\n  UNION ALL\n"
            f"  SELECT {by}, e AS x, -w AS d FROM islands",
        ),
        (
            "sweep",
            f"  SELECT {by}, x,\n"
            f"         sum(d) OVER (PARTITION BY {by} ORDER BY x, d DESC {_ROWS}) AS c,\n"
            f"         lead(x) OVER (PARTITION BY {by} ORDER BY x, d DESC) AS nx\n"
            "  FROM points",
        ),
        (
            "qual",
            f"  SELECT {by}, x AS a, nx AS b,\n"
            f"         max(nx) OVER (PARTITION BY {by} ORDER BY x, nx {_BEFORE}) AS prev_b\n"
            f"  FROM sweep\n  WHERE c >= {need} AND nx IS NOT NULL",
        ),
        (
            "qual_runs",
            f"  SELECT {by}, a, b,\n"
            "         sum(CASE WHEN prev_b IS NULL OR a > prev_b THEN 1 ELSE 0 END)\n"
            f"           OVER (PARTITION BY {by} ORDER BY a, b {_ROWS}) AS rng\n"
            "  FROM qual",
        ),
        (
            "ranges",
            f"  SELECT {by}, min(a) AS a, max(b) AS b\n  FROM qual_runs\n  GROUP BY {by}, rng",
        ),
        (
            "spans",
            f"  SELECT DISTINCT {', '.join('e.' + k for k in keys)}, e.t AS a, e.t + {ew} AS b\n"
            f"  FROM ev e\n  JOIN ranges r ON {_on(keys, 'e', 'r')} AND e.t BETWEEN r.a AND r.b",
        ),
    ]
    return [*islands, *rest]


def _ordered(window: Window, keys: list[str]) -> list[tuple[str, str]]:
    by = ", ".join(keys)
    order = f"PARTITION BY {by} ORDER BY t, step, eventid"
    ctes = [("chain_1", "  SELECT ev.*, CASE WHEN step = 1 THEN t END AS c_1\n  FROM ev")]
    for n in range(2, len(window.steps) + 1):
        ctes.append(
            (
                f"chain_{n}",
                f"  SELECT p.*,\n         CASE WHEN step = {n} THEN max(c_{n - 1}) OVER"
                f" ({order} {_BEFORE}) END AS c_{n}\n  FROM chain_{n - 1} p",
            )
        )
    last = len(window.steps)
    ctes.append(
        (
            "spans",
            f"  SELECT DISTINCT {by}, c_{last} AS a, t AS b\n  FROM chain_{last}\n"
            f"  WHERE step = {last} AND c_{last} IS NOT NULL AND t - c_{last} <= {_W}",
        )
    )
    return ctes


def _bursts(keys: list[str], w: str) -> list[tuple[str, str]]:
    by = ", ".join(keys)
    return [
        (
            "spans_prev",
            f"  SELECT {by}, a, b,\n"
            f"         max(b) OVER (PARTITION BY {by} ORDER BY a, b {_BEFORE}) AS prev_b\n"
            "  FROM spans",
        ),
        (
            "spans_runs",
            f"  SELECT {by}, a, b,\n"
            "         sum(CASE WHEN prev_b IS NULL OR a > prev_b THEN 1 ELSE 0 END)\n"
            f"           OVER (PARTITION BY {by} ORDER BY a, b {_ROWS}) AS burst\n"
            "  FROM spans_prev",
        ),
        (
            "bursts",
            f"  SELECT {by}, burst, min(a) AS a, max(b) AS b\n  FROM spans_runs\n"
            f"  GROUP BY {by}, burst",
        ),
        (
            "hits",
            "  SELECT e.*, u.burst\n  FROM ev e\n"
            f"  JOIN bursts u ON {_on(keys, 'e', 'u')} AND e.t BETWEEN u.a AND u.b",
        ),
    ]


def _one_or_count(column: str, noun: str) -> str:
    return (
        f"CASE WHEN count(DISTINCT {column}) <= 1 THEN max({column})\n"
        f"              ELSE CAST(count(DISTINCT {column}) AS varchar) || ' {noun}' END"
    )


def _detail(window: Window, minutes: str) -> str:
    """What a finding counted, in words (``minutes``: SQL of the window's length)."""
    if window.kind == "event_count" and window.weight:
        noun = (window.field_name or "items").replace("'", "")
        detail = f"CAST(CAST(sum(w) AS bigint) AS varchar) || ' {noun} within '"
    elif window.kind == "event_count":
        detail = "CAST(count(DISTINCT eventid) AS varchar) || ' events within '"
    elif window.kind == "value_count":
        noun = (window.field_name or "value").replace("'", "")
        detail = f"CAST(count(DISTINCT v) AS varchar) || ' distinct {noun} within '"
    else:
        names = ", then ".join(s.name for s in window.steps).replace("'", "")
        detail = f"'{names} within '"
    return f"({detail} || CAST({minutes} AS varchar) || ' minutes')"


def _select(
    by: list[str],
    detail: str,
    target: str | None,
    keys: list[str],
    extra: tuple[str, ...] = (),
) -> str:
    group_cols = "".join(f",\n       {k} AS group_{i + 1}" for i, k in enumerate(keys))
    targets = ",\n       array_agg(DISTINCT target) AS targets" if target else ""
    more = "".join(f",\n       {c}" for c in extra)
    return (
        "SELECT min(eventtime) AS first_seen,\n"
        "       max(eventtime) AS last_seen,\n"
        f"       {_one_or_count('principal', 'principals')} AS principal,\n"
        f"       {_one_or_count('source_ip', 'addresses')} AS source_ip,\n"
        f"       {_one_or_count('account', 'accounts')} AS account,\n"
        f"       {_one_or_count('region', 'regions')} AS region,\n"
        "       count(DISTINCT eventid) AS event_count,\n"
        "       array_agg(DISTINCT eventid) AS event_ids,\n"
        f"       {detail} AS detail{targets}{group_cols}{more}\n"
        "FROM hits\n"
        f"GROUP BY {', '.join(by)}, burst"
    )
