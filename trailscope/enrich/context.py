"""What the enrichment adds to one event: the account's name, where the address is, and
who is behind a role session.

The human behind a role session is what CloudTrail itself says: the source identity the
session carries (``sessionContext.sourceIdentity``, set by whoever assumed the role and kept
along a chain), the Identity Center user it acts for (``onBehalfOf.userId``), the session
name of a role Identity Center manages (``AWSReservedSSO_*``: the user's name), and the
chain of STS calls that made the session, followed back through each caller's access key
(as the ``identity-chains`` saved query links them) to the first principal that was not a
role session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

#: Run Athena SQL with bound parameters, rows as dicts (``Lake.query`` or the web's view).
Query = Callable[[str, dict[str, Any]], list[dict[str, Any]]]

#: How many STS steps a chain is followed back (role chaining rarely goes deeper).
MAX_STEPS = 5
#: How long before an event the call that made its session may be (the longest session).
SESSION_HOURS = 36

_CHAIN_STEP = """
SELECT eventtime, eventname, recipientaccountid AS account,
       coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                useridentity.invokedby) AS principal,
       useridentity.type AS identity_type,
       useridentity.accesskeyid AS access_key,
       useridentity.sessioncontext.sourceidentity AS source_identity,
       sourceipaddress, eventid
FROM cloudtrail
WHERE eventtime >= :lo AND eventtime <= :hi
  AND eventsource = 'sts.amazonaws.com'
  AND json_extract_scalar(responseelements, '$.credentials.accessKeyId') = :key
ORDER BY eventtime DESC, eventid
LIMIT 1
"""


def account_names(query: Query) -> dict[str, str]:
    """Account id -> name, from the ``accounts`` table (empty before any names are given)."""
    rows = query("SELECT account_id, name FROM accounts", {})
    return {str(r["account_id"]): str(r["name"]) for r in rows if r.get("name")}


def place(query: Query, address: str | None) -> dict[str, Any] | None:
    """The ``ip_info`` row of ``address``, or None (never enriched, or no address)."""
    if not address:
        return None
    rows = query(
        "SELECT kind, country, country_name, asn, as_org, aws_service, aws_region "
        "FROM ip_info WHERE ip = :ip",
        {"ip": address},
    )
    return rows[0] if rows else None


def human_behind(query: Query, event: dict[str, Any]) -> dict[str, Any] | None:
    """Who is behind the role session of ``event`` (a CloudTrail record), or None when the
    event is not a role session's. ``person`` is the best name found; ``chain`` the STS
    steps that made the session, newest first."""
    identity = event.get("userIdentity") or {}
    if identity.get("type") not in ("AssumedRole", "FederatedUser"):
        return None
    context = identity.get("sessionContext") or {}
    arn = str(identity.get("arn") or "")
    session_name = arn.rsplit("/", 1)[-1] if "/" in arn else None
    out: dict[str, Any] = {
        "source_identity": context.get("sourceIdentity"),
        "identity_center_user": (identity.get("onBehalfOf") or {}).get("userId"),
        "session_name": session_name,
        "chain": [],
    }
    if "/AWSReservedSSO_" in arn and session_name:
        out["identity_center_user"] = out["identity_center_user"] or session_name
    key, moment = identity.get("accessKeyId"), _moment(event.get("eventTime"))
    seen: set[str] = set()
    while key and moment and len(out["chain"]) < MAX_STEPS and key not in seen:
        seen.add(key)
        rows = query(
            _CHAIN_STEP,
            {"key": key, "lo": _iso(moment - timedelta(hours=SESSION_HOURS)), "hi": _iso(moment)},
        )
        if not rows:
            break
        step = rows[0]
        out["chain"].append(step)
        if step.get("identity_type") not in ("AssumedRole", "FederatedUser"):
            break  # reached a user, root or a service: the start of the chain
        key, moment = step.get("access_key"), _moment(step.get("eventtime"))
    first = out["chain"][-1] if out["chain"] else None
    out["person"] = (
        out["source_identity"]
        or out["identity_center_user"]
        or (first or {}).get("source_identity")
        or (first["principal"] if first and first.get("identity_type") != "AssumedRole" else None)
        or session_name
    )
    return out


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
