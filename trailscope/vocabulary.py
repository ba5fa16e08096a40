"""The shared SQL vocabulary: how trailscope says "who", "from where" and "did it work" in
Athena SQL over the ``cloudtrail`` table.

Detections, dashboards and saved queries all need the same few expressions (the principal of
an event, the name of whoever acts, the outcome of a console sign-in). Written once here, they
cannot drift apart: a rule that groups by ``principal`` and a page that filters on it mean the
same column. Every expression is Athena (Trino) SQL over the lake's columns, so it runs on
DuckDB, Athena and Spark through the same translation as any query.

This module sits below the engines and everything that builds SQL; it imports nothing of
trailscope's.
"""

from __future__ import annotations

#: Who did it, in one column: an ARN when there is one, else the name CloudTrail gives.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)

#: The name of whoever acts, comparable with an IAM user name in a request: the source
#: identity a role session carries (set by the person or tool that assumed it), else the IAM
#: user's name, else a role session's name (the last part of its ARN; for a person who signed
#: in through SSO or SAML that is their user name or e-mail), else 'root' for the root user.
ACTOR_NAME = (
    "coalesce(useridentity.sessioncontext.sourceidentity, "
    "CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.username "
    "WHEN useridentity.type = 'AssumedRole' THEN element_at(split(useridentity.arn, '/'), -1) "
    "WHEN useridentity.type = 'Root' THEN 'root' END)"
)

#: The source address column (an IP address, or a service name such as ``ec2.amazonaws.com``).
SOURCE_IP = "sourceipaddress"
#: The account the event belongs to (the one whose resources were acted on).
ACCOUNT = "recipientaccountid"
REGION = "awsregion"

#: 'Success' or 'Failure' for a console sign-in (older events put failures in errorMessage only).
CONSOLE_LOGIN_OUTCOME = (
    "CASE WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure' "
    "OR errormessage = 'Failed authentication' THEN 'Failure' "
    "ELSE json_extract_scalar(responseelements, '$.ConsoleLogin') END"
)

#: True for calls that failed (CloudTrail records an error code; a few record only a message).
FAILED = "(errorcode IS NOT NULL AND errorcode <> '')"
#: 'success' or 'failure', Sigma's generic outcome field.
OUTCOME = f"CASE WHEN {FAILED} THEN 'failure' ELSE 'success' END"

#: Authorization errors: the call was refused for lack of permission.
ACCESS_DENIED = (
    "(errorcode LIKE '%AccessDenied%' OR errorcode LIKE '%UnauthorizedOperation%' "
    "OR errorcode LIKE '%Unauthorized%Exception' OR errorcode = 'Forbidden')"
)

#: A person or program calling AWS directly (not AWS acting on its own behalf).
NOT_AWS_SERVICE = (
    "coalesce(useridentity.type, '') NOT IN ('AWSService') "
    "AND coalesce(eventtype, '') <> 'AwsServiceEvent'"
)

#: Names a rule or saved query can use for these expressions (``group_by: [principal]``).
NAMED: dict[str, str] = {
    "principal": PRINCIPAL,
    "actor": ACTOR_NAME,
    "source_ip": SOURCE_IP,
    "account": ACCOUNT,
    "region": REGION,
    "user_agent": "useragent",
    "event_name": "eventname",
    "event_source": "eventsource",
    "user_name": "useridentity.username",
    "access_key": "useridentity.accesskeyid",
    "outcome": OUTCOME,
    "console_login_outcome": CONSOLE_LOGIN_OUTCOME,
    "failed": FAILED,
    "access_denied": ACCESS_DENIED,
    "public_address": "",  # filled below
}


#: Address ranges that are not the internet, as patterns of the address text: private,
#: shared (carrier NAT), loopback, link-local, and the ranges reserved for documentation and
#: tests (patterns, not network arithmetic: the same test runs cheaply on every engine).
NON_PUBLIC_ADDRESS = (
    r"^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|"
    r"127\.|169\.254\.|192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|0\.|2001:db8:|"
    r"f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]?:|::1$|::$)"
)

#: True when the source address is an internet address (not a service name, not private).
PUBLIC_ADDRESS = (
    "(regexp_like(sourceipaddress, '^([0-9]{1,3}\\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$')"
    f" AND NOT regexp_like(lower(sourceipaddress), '{NON_PUBLIC_ADDRESS}'))"
)
NAMED["public_address"] = PUBLIC_ADDRESS


def named(name_or_sql: str) -> str:
    """The expression for a vocabulary name, or the text itself when it is SQL already."""
    return NAMED.get(name_or_sql.strip().lower(), name_or_sql.strip())


def sql_string(text: str) -> str:
    """A SQL string literal of ``text`` (quotes doubled): for values that come from the logs."""
    return "'" + str(text).replace("'", "''") + "'"


# --------------------------------------------------------------------------- policy documents

#: Statements of a policy document looked at: the single-statement form and the first ones of
#: a list (policies written by attackers and by hand are short; each statement checked costs
#: the length of its test in every query that uses it).
POLICY_STATEMENTS = 5
#: JSON text of a value holding ``*`` (alone, or as an element of a list)
_HAS_STAR = r'(^|[\[,]\s*)"\*(:\*)?"\s*([],]|$)'


def _statements(doc: str) -> list[str]:
    """The paths of the statements looked at."""
    return ["$.Statement"] + [f"$.Statement[{i}]" for i in range(POLICY_STATEMENTS)]


def allows_everything(doc: str) -> str:
    """SQL: the policy document (JSON text) has a statement that allows every action on every
    resource: ``Effect: Allow`` with ``Action`` ``*`` and ``Resource`` ``*``, in any form IAM
    accepts (a string or a list holding ``*``; one statement object or a list of them)."""
    parts = [
        f"(json_extract_scalar({doc}, '{p}.Effect') = 'Allow'"
        f" AND regexp_like(json_format(json_extract({doc}, '{p}.Action')), '{_HAS_STAR}')"
        f" AND regexp_like(json_format(json_extract({doc}, '{p}.Resource')), '{_HAS_STAR}'))"
        for p in _statements(doc)
    ]
    return "(" + "\n OR ".join(parts) + ")"


def grants_public_or_foreign(doc: str, account: str = f"coalesce({ACCOUNT}, '-')") -> str:
    """SQL: a resource policy (JSON text) has an ``Allow`` statement whose principal is
    everyone (``*``, ``{"AWS": "*"}``) or another AWS account, and no condition."""
    parts = []
    for p in _statements(doc):
        principal = f"replace(json_format(json_extract({doc}, '{p}.Principal')), {account}, '')"
        parts.append(
            f"(json_extract_scalar({doc}, '{p}.Effect') = 'Allow'"
            f" AND regexp_like({principal}, "
            '\'(^"\\*"$|"\\*"|arn:aws[a-z-]*:iam::[0-9]{12}:|"[0-9]{12}")\')'
            f" AND json_extract({doc}, '{p}.Condition') IS NULL)"
        )
    return "(" + "\n OR ".join(parts) + ")"


#: Functions a rule may call as ``${name(sql)}``, expanded when the rule is read.
MACROS = {
    "allows_everything": allows_everything,
    "grants_public_or_foreign": grants_public_or_foreign,
}


def expand(text: str) -> str:
    """Replace ``${name}`` by the named expression and ``${fn(sql)}`` by the macro's SQL."""
    out: list[str] = []
    i = 0
    while True:
        start = text.find("${", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:start])
        j = start + 2
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        name = text[start + 2 : j]
        if j < len(text) and text[j] == "(":
            depth, k, quote = 0, j, False
            while k < len(text):
                ch = text[k]
                if ch == "'":
                    quote = not quote
                elif not quote and ch == "(":
                    depth += 1
                elif not quote and ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if name not in MACROS or k + 1 >= len(text) or text[k + 1] != "}":
                raise ValueError(f"unknown or unclosed macro ${{{name}(...)}}")
            out.append(MACROS[name](text[j + 1 : k]))
            i = k + 2
        else:
            if j >= len(text) or text[j] != "}" or name not in NAMED:
                raise ValueError(f"unknown name ${{{name}}}")
            out.append(NAMED[name])
            i = j + 1
