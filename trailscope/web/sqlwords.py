"""The SQL words dashboards are written with: ``{principal}``, ``{login_outcome}``, ``{bucket}``...

A dashboard file (built in or the user's) writes Athena SQL with these placeholders, so every
panel, drill-down and Explore view means the same thing by "principal" or "console call".
Only the names listed here are replaced (``{where}`` and ``{bucket}`` by the page); any other
``{name}`` in a file is an error that names its line.
"""

from __future__ import annotations

#: Who did it, as one text: the ARN when there is one, else what the identity has.
PRINCIPAL = (
    "coalesce(useridentity.arn, useridentity.username, useridentity.principalid, "
    "useridentity.invokedby)"
)
#: Console sign-in outcome, judged as the saved query 'console-logins' does.
LOGIN_OUTCOME = """CASE
    WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'
         OR errorcode IS NOT NULL OR errormessage IS NOT NULL THEN 'Failure'
    WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success' THEN 'Success'
    ELSE 'Unknown' END"""
LOGIN_USER = "coalesce(useridentity.username, useridentity.arn)"
MFA_USED = "json_extract_scalar(additionaleventdata, '$.MFAUsed')"
#: A call made by hand in the AWS console, by either sign CloudTrail leaves: console session
#: credentials (sessionCredentialFromConsole) or the console's own user agent, the criterion of
#: the classic Kibana/Elastic recipe.
CONSOLE_CALL = (
    "(coalesce(sessioncredentialfromconsole, '') = 'true' "
    "OR coalesce(useragent, '') = 'console.amazonaws.com')"
)
CONSOLE_BY_SESSION = "coalesce(sessioncredentialfromconsole, '') = 'true'"
CONSOLE_BY_AGENT = "coalesce(useragent, '') = 'console.amazonaws.com'"
#: The start of a time chart's bar (epoch seconds), with bars aligned to the page's time zone.
BUCKET = (
    "CAST(floor((to_unixtime(eventtime_ts) + :tzoffset) / :bucket) AS bigint) * :bucket - :tzoffset"
)

#: Placeholders a dashboard's SQL may use, besides ``{where}`` and the saved queries
#: (``{saved:NAME}``) and the dashboard's own options.
WORDS: dict[str, str] = {
    "principal": PRINCIPAL,
    "login_outcome": LOGIN_OUTCOME,
    "login_user": LOGIN_USER,
    "mfa_used": MFA_USED,
    "console_call": CONSOLE_CALL,
    "bucket": BUCKET,
}
