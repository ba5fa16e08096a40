"""The dashboards, as data: each panel is one Athena SQL query over the shared filter.

A panel's SQL embeds ``{where}`` (the filter bar, :meth:`trailscope.web.filters.Filters.where`,
all bound parameters) and may use ``:bucket`` (the bar width of time charts, in seconds) and the
dashboard's own parameters. Panel kinds and the columns each expects:

* ``stats``: one row; each column is a number tile.
* ``timeseries``: ``t`` (bucket start, epoch seconds), ``series``, ``n``: stacked bars.
* ``line``: ``t`` and ``value``.
* ``bars``: ``label`` and ``n`` (optional ``key``: the value to filter on when it differs from
  the label), any other columns go into the tooltip.
* ``table``: any columns; ``eventid`` links to the event, ``row_drill`` makes rows clickable.

``drill`` names the events-page filter that a bar or series sets; ``fixed`` is added to every
drill-down link of the panel, so a click shows exactly the events behind the number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trailscope.queries import load_library
from trailscope.web.filters import PRINCIPAL

#: Console sign-in outcome, judged as the saved query 'console-logins' does.
LOGIN_OUTCOME = """CASE
    WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'
         OR errorcode IS NOT NULL OR errormessage IS NOT NULL THEN 'Failure'
    WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success' THEN 'Success'
    ELSE 'Unknown' END"""
LOGIN_USER = "coalesce(useridentity.username, useridentity.arn)"
BUCKET = "CAST(floor(to_unixtime(eventtime_ts) / :bucket) AS bigint) * :bucket"


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    kind: str  # stats | timeseries | line | bars | table
    sql: str
    drill: str | None = None  # events filter set from a bar's label/key or a series
    fixed: dict[str, str] = field(default_factory=dict)
    row_drill: dict[str, str] = field(default_factory=dict)  # column -> events filter
    note: str = ""
    wide: bool = False
    highlight: str | None = None  # a boolean column that marks a table row


@dataclass(frozen=True)
class Option:
    """A dashboard setting chosen from a fixed list (never free text in the SQL)."""

    name: str
    label: str
    choices: dict[str, tuple[str, str]]  # value -> (SQL expression, drill key)

    @property
    def default(self) -> str:
        return next(iter(self.choices))


@dataclass(frozen=True)
class ParamField:
    """A dashboard parameter typed by the user: always bound, never pasted."""

    name: str
    label: str
    type: str  # string | time | int
    default: str | None = None
    placeholder: str = ""


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    options: tuple[Option, ...] = ()
    fields: tuple[ParamField, ...] = ()


def _stacked(series_expr: str, extra_where: str = "", top: int = 8) -> str:
    return f"""WITH e AS (
    SELECT {BUCKET} AS t, coalesce(CAST({series_expr} AS varchar), '(none)') AS s
    FROM cloudtrail WHERE {{where}}{extra_where}
), top AS (SELECT s FROM e GROUP BY s ORDER BY count(*) DESC, s LIMIT {top})
SELECT t, CASE WHEN s IN (SELECT s FROM top) THEN s ELSE '(other)' END AS series, count(*) AS n
FROM e GROUP BY 1, 2 ORDER BY 1, 2"""


def _bars(label: str, extra_where: str = "", *, n: str = "count(*)", limit: int = 15) -> str:
    return f"""SELECT {label} AS label, {n} AS n FROM cloudtrail
WHERE {{where}}{extra_where} AND {label} IS NOT NULL
GROUP BY 1 ORDER BY n DESC, label LIMIT {limit}"""


OVERVIEW = Dashboard(
    "overview",
    "Overview",
    "Everything in the range: volume over time, who and what, where, reads and writes, errors.",
    (
        Panel(
            "totals",
            "In this range",
            "stats",
            """SELECT count(*) AS events,
       count_if(errorcode IS NOT NULL) AS errors,
       round(100.0 * count_if(errorcode IS NOT NULL) / greatest(count(*), 1), 2)
           AS error_rate_pct,
       count_if(readonly = 'false') AS writes,
       count(DISTINCT recipientaccountid) AS accounts,
       count(DISTINCT awsregion) AS regions
FROM cloudtrail WHERE {where}""",
            wide=True,
        ),
        Panel(
            "over_time",
            "Events over time",
            "timeseries",
            _stacked("{stack}"),
            drill="{stack}",
            wide=True,
        ),
        Panel("event_names", "Top event names", "bars", _bars("eventname"), drill="eventname"),
        Panel("principals", "Top principals", "bars", _bars(PRINCIPAL), drill="principal"),
        Panel("sources", "Event sources", "bars", _bars("eventsource"), drill="source"),
        Panel("regions", "Regions", "bars", _bars("awsregion"), drill="region"),
        Panel(
            "read_write",
            "Read vs write",
            "bars",
            """SELECT CASE readonly WHEN 'true' THEN 'read' WHEN 'false' THEN 'write'
            ELSE 'not stated' END AS label, readonly AS key, count(*) AS n
FROM cloudtrail WHERE {where} GROUP BY 1, 2 ORDER BY n DESC, label""",
            drill="readonly",
        ),
        Panel(
            "error_rate",
            "Error rate over time (%)",
            "line",
            f"""SELECT {BUCKET} AS t,
       round(100.0 * count_if(errorcode IS NOT NULL) / count(*), 2) AS value
FROM cloudtrail WHERE {{where}} GROUP BY 1 ORDER BY 1""",
        ),
    ),
    options=(
        Option(
            "stack",
            "Stack by",
            {"source": ("eventsource", "source"), "account": ("recipientaccountid", "account")},
        ),
    ),
)

_LOGINS = " AND eventsource = 'signin.amazonaws.com' AND eventname = 'ConsoleLogin'"
_LOGIN_FIXED = {"source": "signin.amazonaws.com", "eventname": "ConsoleLogin"}
_NO_MFA = (
    f" AND {LOGIN_OUTCOME} = 'Success'"
    " AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No'"
)

LOGINS = Dashboard(
    "logins",
    "Console logins",
    "AWS console sign-ins (ConsoleLogin): outcomes, failures by user and address, MFA, "
    "first and latest login per user.",
    (
        Panel(
            "totals",
            "Console logins in this range",
            "stats",
            f"""SELECT count(*) AS logins,
       count_if({LOGIN_OUTCOME} = 'Success') AS successful,
       count_if({LOGIN_OUTCOME} = 'Failure') AS failed,
       count_if({LOGIN_OUTCOME} = 'Success'
                AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No')
           AS successful_without_mfa,
       count(DISTINCT {LOGIN_USER}) AS users,
       count(DISTINCT sourceipaddress) AS source_ips
FROM cloudtrail WHERE {{where}}{_LOGINS}""",
            wide=True,
        ),
        Panel(
            "over_time",
            "Logins over time by outcome",
            "timeseries",
            _stacked(LOGIN_OUTCOME, _LOGINS),
            drill="outcome",
            fixed=_LOGIN_FIXED,
            wide=True,
        ),
        Panel(
            "failed_by_user",
            "Failed logins by user",
            "bars",
            _bars(LOGIN_USER, _LOGINS + f" AND {LOGIN_OUTCOME} = 'Failure'"),
            drill="user",
            fixed={**_LOGIN_FIXED, "outcome": "Failure"},
        ),
        Panel(
            "failed_by_ip",
            "Failed logins by source IP",
            "bars",
            _bars("sourceipaddress", _LOGINS + f" AND {LOGIN_OUTCOME} = 'Failure'"),
            drill="ip",
            fixed={**_LOGIN_FIXED, "outcome": "Failure"},
        ),
        Panel(
            "without_mfa",
            "Successful logins without MFA",
            "table",
            f"""SELECT eventtime, recipientaccountid AS account, useridentity.type AS identity_type,
       {LOGIN_USER} AS user_name, sourceipaddress, useragent, eventid
FROM cloudtrail WHERE {{where}}{_LOGINS}{_NO_MFA}
ORDER BY eventtime DESC, eventid LIMIT 100""",
            row_drill={"user_name": "user"},
            fixed={**_LOGIN_FIXED, "outcome": "Success", "mfa": "No"},
            wide=True,
        ),
        Panel(
            "per_user",
            "First and latest login per user",
            "table",
            f"""SELECT {LOGIN_USER} AS user_name, recipientaccountid AS account,
       count(*) AS logins,
       count_if({LOGIN_OUTCOME} = 'Failure') AS failed,
       min(eventtime) AS first_login, max(eventtime) AS latest_login,
       count(DISTINCT sourceipaddress) AS distinct_ips
FROM cloudtrail WHERE {{where}}{_LOGINS}
GROUP BY 1, 2 ORDER BY logins DESC, user_name, account LIMIT 100""",
            row_drill={"user_name": "user", "account": "account"},
            fixed=_LOGIN_FIXED,
            wide=True,
        ),
        Panel(
            "distinct_ips",
            "Users with the most distinct source IPs",
            "bars",
            _bars(LOGIN_USER, _LOGINS, n="count(DISTINCT sourceipaddress)"),
            drill="user",
            fixed=_LOGIN_FIXED,
        ),
    ),
)

_ERR = " AND errorcode IS NOT NULL"
_ERR_FIXED = {"errors": "only"}

ERRORS = Dashboard(
    "errors",
    "Errors",
    "Calls that failed (errorCode set): when, which codes, which services and principals, and "
    "the calls that fail again and again (a misconfigured policy or a probing credential).",
    (
        Panel(
            "totals",
            "Errors in this range",
            "stats",
            """SELECT count_if(errorcode IS NOT NULL) AS errors,
       round(100.0 * count_if(errorcode IS NOT NULL) / greatest(count(*), 1), 2)
           AS error_rate_pct,
       count(DISTINCT errorcode) AS error_codes,
       count(DISTINCT CASE WHEN errorcode IS NOT NULL THEN eventsource END) AS services,
       count(DISTINCT CASE WHEN errorcode IS NOT NULL THEN eventname END) AS calls
FROM cloudtrail WHERE {where}""",
            wide=True,
        ),
        Panel(
            "over_time",
            "Errors over time by code",
            "timeseries",
            _stacked("errorcode", _ERR),
            drill="errorcode",
            wide=True,
        ),
        Panel("by_code", "By error code", "bars", _bars("errorcode", _ERR), drill="errorcode"),
        Panel(
            "by_service",
            "By service",
            "bars",
            _bars("eventsource", _ERR),
            drill="source",
            fixed=_ERR_FIXED,
        ),
        Panel(
            "by_principal",
            "By principal",
            "bars",
            _bars(PRINCIPAL, _ERR),
            drill="principal",
            fixed=_ERR_FIXED,
        ),
        Panel(
            "repeated",
            "Most repeated failing calls",
            "table",
            f"""SELECT eventsource, eventname, errorcode, {PRINCIPAL} AS principal,
       count(*) AS calls, min(eventtime) AS first_seen, max(eventtime) AS last_seen,
       max(errormessage) AS sample_message
FROM cloudtrail WHERE {{where}}{_ERR}
GROUP BY 1, 2, 3, 4 ORDER BY calls DESC, eventsource, eventname, errorcode, principal
LIMIT 25""",
            row_drill={
                "eventsource": "source",
                "eventname": "eventname",
                "errorcode": "errorcode",
                "principal": "principal",
            },
            wide=True,
        ),
    ),
)

_ASSUME = "('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'SwitchRole')"
_SWITCH_FROM = "json_extract_scalar(additionaleventdata, '$.SwitchFrom')"

IDENTITY = Dashboard(
    "identity",
    "Identity and accounts",
    "Who acts: IAM users and roles, root and the services acting on its behalf, role "
    "assumptions and switches, new access keys, and where each kind of identity comes from.",
    (
        Panel(
            "iam_users",
            "Top IAM users",
            "bars",
            _bars("useridentity.username", " AND useridentity.type = 'IAMUser'"),
            drill="user",
            fixed={"identity": "IAMUser"},
        ),
        Panel(
            "roles",
            "Top roles (assumed-role sessions)",
            "bars",
            _bars(
                "useridentity.sessioncontext.sessionissuer.username",
                " AND useridentity.type = 'AssumedRole'",
            ),
            drill="role",
            fixed={"identity": "AssumedRole"},
        ),
        Panel(
            "root",
            "Root activity (and on whose behalf)",
            "table",
            """SELECT eventname, coalesce(useridentity.invokedby, 'root itself') AS on_behalf_of,
       recipientaccountid AS account, sourceipaddress, count(*) AS events,
       max(eventtime) AS last_seen
FROM cloudtrail WHERE {where} AND useridentity.type = 'Root'
GROUP BY 1, 2, 3, 4 ORDER BY events DESC, last_seen DESC, eventname LIMIT 50""",
            row_drill={"eventname": "eventname", "account": "account", "sourceipaddress": "ip"},
            fixed={"identity": "Root"},
            wide=True,
        ),
        Panel(
            "chains",
            "Role assumptions and switches (who became which role)",
            "table",
            f"""SELECT who, eventname, role, count(*) AS times, min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM (
    SELECT CASE WHEN eventname = 'SwitchRole' THEN {_SWITCH_FROM} ELSE {PRINCIPAL} END AS who,
           eventname,
           CASE WHEN eventname = 'SwitchRole'
                THEN useridentity.sessioncontext.sessionissuer.arn
                ELSE json_extract_scalar(requestparameters, '$.roleArn') END AS role,
           eventtime
    FROM cloudtrail
    WHERE {{where}} AND eventname IN {_ASSUME}
      AND NOT (eventname = 'SwitchRole'
               AND coalesce(useridentity.arn = {_SWITCH_FROM}, false))
) AS a
GROUP BY 1, 2, 3 ORDER BY times DESC, who, eventname, role LIMIT 50""",
            row_drill={"eventname": "eventname"},
            wide=True,
        ),
        Panel(
            "access_keys",
            "Access keys created",
            "table",
            f"""SELECT eventtime, recipientaccountid AS account, {PRINCIPAL} AS created_by,
       coalesce(json_extract_scalar(requestparameters, '$.userName'), useridentity.username)
           AS for_user,
       json_extract_scalar(responseelements, '$.accessKey.accessKeyId') AS access_key,
       coalesce(json_extract_scalar(requestparameters, '$.userName') <> useridentity.username,
                false) AS for_another_user,
       errorcode, eventid
FROM cloudtrail WHERE {{where}} AND eventname = 'CreateAccessKey'
ORDER BY eventtime DESC, eventid LIMIT 100""",
            row_drill={"created_by": "principal"},
            fixed={"eventname": "CreateAccessKey"},
            highlight="for_another_user",
            wide=True,
        ),
        Panel(
            "ips_by_type",
            "Distinct source IPs by identity type",
            "bars",
            _bars("useridentity.type", n="count(DISTINCT sourceipaddress)"),
            drill="identity",
        ),
        Panel(
            "top_ips_by_type",
            "Top source IPs by identity type",
            "table",
            """SELECT useridentity.type AS identity_type, sourceipaddress, count(*) AS events
FROM cloudtrail WHERE {where} AND sourceipaddress IS NOT NULL
GROUP BY 1, 2 ORDER BY events DESC, identity_type, sourceipaddress LIMIT 30""",
            row_drill={"identity_type": "identity", "sourceipaddress": "ip"},
        ),
    ),
)


def _security_group_sql() -> str:
    """The saved query 'security-group-changes' with the filter bar around it, so the table
    is exactly what ``lake.run('security-group-changes', ...)`` returns for the same values."""
    saved = load_library()["security-group-changes"].sql.strip().rstrip(";")
    return f"""SELECT * FROM (
{saved}
) AS c
WHERE (:account IS NULL OR account = :account)
  AND (:region IS NULL OR region = :region)
  AND (:principal IS NULL OR principal = :principal)
  AND (:source IS NULL OR :source = 'ec2.amazonaws.com')"""


_SG = _security_group_sql()

SECURITY_GROUPS = Dashboard(
    "security-groups",
    "Security groups",
    "Every ingress/egress rule change, group creation and interface group change, with the "
    "rule's protocol, ports and CIDRs; rules open to 0.0.0.0/0 or ::/0 are highlighted. Follow "
    "one group or network interface, or look at the N hours before a moment.",
    (
        Panel(
            "totals",
            "Changes in this range",
            "stats",
            f"""SELECT count(*) AS changes, count_if(open_to_world) AS open_to_world,
       count(DISTINCT group_id) AS groups, count(DISTINCT principal) AS principals,
       count_if(errorcode IS NOT NULL) AS failed
FROM ({_SG}) AS s""",
            wide=True,
        ),
        Panel(
            "over_time",
            "Changes over time",
            "timeseries",
            f"""SELECT CAST(floor(to_unixtime(from_iso8601_timestamp(eventtime)) / :bucket)
            AS bigint) * :bucket AS t, eventname AS series, count(*) AS n
FROM ({_SG}) AS s GROUP BY 1, 2 ORDER BY 1, 2""",
            drill="eventname",
            fixed={"source": "ec2.amazonaws.com"},
            wide=True,
        ),
        Panel(
            "changes",
            "Rule changes (the newest 200)",
            "table",
            f"""SELECT * FROM ({_SG}) AS s ORDER BY eventtime DESC, eventid LIMIT 200""",
            row_drill={"principal": "principal"},
            highlight="open_to_world",
            wide=True,
        ),
    ),
    fields=(
        ParamField("group", "Security group", "string", None, "sg-..."),
        ParamField("eni", "Network interface", "string", None, "eni-..."),
        ParamField("before", "Hours before", "time", None, "2024-07-16T12:00:00Z"),
        ParamField("hours", "Hours", "int", "24", "24"),
    ),
)

_CONSOLE = " AND sessioncredentialfromconsole = 'true'"

CONSOLE = Dashboard(
    "console",
    "Console usage",
    "API calls made with console session credentials: what people still do by hand, by "
    "operation and user. Changes repeated by hand are the candidates for automation.",
    (
        Panel(
            "totals",
            "Console calls in this range",
            "stats",
            f"""SELECT count(*) AS calls, count_if(readonly = 'false') AS changes,
       count(DISTINCT eventname) AS operations, count(DISTINCT {PRINCIPAL}) AS principals
FROM cloudtrail WHERE {{where}}{_CONSOLE}""",
            wide=True,
        ),
        Panel(
            "changes_by_name",
            "Changes by hand, by operation",
            "bars",
            _bars("eventname", _CONSOLE + " AND readonly = 'false'"),
            drill="eventname",
            fixed={"console": "true", "readonly": "false"},
        ),
        Panel(
            "by_user",
            "Console calls by principal",
            "bars",
            _bars(PRINCIPAL, _CONSOLE),
            drill="principal",
            fixed={"console": "true"},
        ),
        Panel(
            "operations",
            "Operations by principal",
            "table",
            f"""SELECT eventsource, eventname, readonly, {PRINCIPAL} AS principal,
       count(*) AS calls, count(DISTINCT substr(eventtime, 1, 10)) AS days,
       count_if(errorcode IS NOT NULL) AS errors,
       min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM cloudtrail WHERE {{where}}{_CONSOLE}
GROUP BY 1, 2, 3, 4 ORDER BY calls DESC, eventsource, eventname, principal, readonly
LIMIT 100""",
            row_drill={
                "eventsource": "source",
                "eventname": "eventname",
                "principal": "principal",
            },
            fixed={"console": "true"},
            wide=True,
        ),
    ),
)

DASHBOARDS: dict[str, Dashboard] = {
    d.name: d for d in (OVERVIEW, LOGINS, ERRORS, IDENTITY, SECURITY_GROUPS, CONSOLE)
}


def panel_sql(panel: Panel, choices: dict[str, str], dashboard: Dashboard, where: str) -> str:
    """The panel's Athena SQL with the filter's condition (``Filters.where``) and the chosen
    options' expressions in place."""
    sql = panel.sql.replace("{where}", f"({where})")
    for o in dashboard.options:
        sql = sql.replace("{" + o.name + "}", o.choices[choices.get(o.name, o.default)][0])
    return sql


def drill_key(panel: Panel, choices: dict[str, str], dashboard: Dashboard) -> str | None:
    if panel.drill and panel.drill.startswith("{"):
        option = next(o for o in dashboard.options if "{" + o.name + "}" == panel.drill)
        return option.choices[choices.get(option.name, option.default)][1]
    return panel.drill
