"""The saved-query library, checked against answers computed from the raw trail.

One lake is built per module from a synthetic trail plus a few hand-written events the
generator does not produce (an AssumeRole whose session is then used, root acting through a
service, legacy request shapes, a failed SwitchRole...). Every query's answer is then computed
independently in plain Python over the raw CloudTrail records (gzip + json, re-delivered exact
duplicates dropped) and compared with ``Lake.run``: exact rows in the query's own order.

The Python side mirrors SQL semantics on purpose: NULLs sort last, ``count(DISTINCT x)`` skips
NULLs, a string column compares as text, ``eventtime`` windows compare ISO strings.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trailscope import Lake
from trailscope.queries import LIBRARY_DIR, SavedQueryError, get_query, load_library
from trailscope.sql import translate
from trailscope.synth import synth_trail

#: Before the first synthetic event, so the whole trail is in the window.
SINCE = "2024-07-01"
#: A narrower window: from 06:00 on the middle day to its end (a bare date as ``until`` means
#: the end of that day).
DAY_SINCE, DAY_UNTIL = "2024-07-16T06:00:00Z", "2024-07-16"
WINDOWS = [
    pytest.param((SINCE, None), id="all"),
    pytest.param((DAY_SINCE, DAY_UNTIL), id="one-day"),
]
SIGNIN = "signin.amazonaws.com"

Row = dict[str, Any]
Event = dict[str, Any]


# --------------------------------------------------------------------------- the trail


@dataclass
class Trail:
    lake: Lake
    events: list[Event]
    accounts: list[str]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    root = tmp_path_factory.mktemp("saved-queries")
    report = synth_trail(root / "trail", events=20_000, seed=5, days=3)
    _write_extra_events(root / "trail", report.accounts)
    lake = Lake(root / "lake")
    summary = lake.ingest(str(root / "trail"), workers=1)
    assert summary.quarantined_objects == 0
    events = _read_raw(root / "trail")
    assert lake.info().events == len(events)
    return Trail(lake, events, report.accounts)


def _read_raw(root: Path) -> list[Event]:
    """Every event of the trail's log and Insight files, re-delivered exact copies once."""
    seen: set[tuple[str | None, str]] = set()
    events: list[Event] = []
    for path in sorted(root.rglob("*.json.gz")):
        if "CloudTrail-Digest" in path.parts:
            continue
        for ev in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            key = (ev.get("eventID"), json.dumps(ev, sort_keys=True))
            if key not in seen:
                seen.add(key)
                events.append(ev)
    return events


# Hand-written events: shapes the generator does not write, so each query meets them too.
CHAIN_USER_KEY = "AKIATESTCHAINUSER001"
CHAIN_KEY_1 = "ASIATESTCHAINKEY0001"
CHAIN_KEY_2 = "ASIATESTCHAINKEY0002"
TEST_INSTANCE = "i-0feedfacefeedface0"
TEST_GROUP = "sg-0feedfacefeed0001"
TEST_GROUP_REF = "sg-0feedfacefeed0002"


def _write_extra_events(root: Path, accounts: list[str]) -> None:
    a = accounts[0]
    events = _extra_events(a, accounts[1])
    folder = root / "AWSLogs" / a / "CloudTrail" / "us-east-1" / "2024" / "07" / "16"
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": events}, separators=(",", ":")).encode()
    name = f"{a}_CloudTrail_us-east-1_20240716T1705Z_TestExtraEvents1.json.gz"
    (folder / name).write_bytes(gzip.compress(body, mtime=0))


def _extra_events(a: str, b: str) -> list[Event]:
    user = {
        "type": "IAMUser",
        "principalId": "AIDATESTCHAINUSER0001",
        "arn": f"arn:aws:iam::{a}:user/chain-user",
        "accountId": a,
        "accessKeyId": CHAIN_USER_KEY,
        "userName": "chain-user",
    }

    def session(acct: str, role: str, name: str, key: str, created: str) -> dict[str, Any]:
        return {
            "type": "AssumedRole",
            "principalId": f"AROATEST{role.upper().replace('-', '')}:{name}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{name}",
            "accountId": acct,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROATEST{role.upper().replace('-', '')}",
                    "arn": f"arn:aws:iam::{acct}:role/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
            },
        }

    s1 = session(a, "chain-role-1", "s1", CHAIN_KEY_1, "2024-07-16T13:00:00Z")
    s2 = session(b, "chain-role-2", "s2", CHAIN_KEY_2, "2024-07-16T13:03:00Z")
    root = {"type": "Root", "principalId": a, "arn": f"arn:aws:iam::{a}:root", "accountId": a}

    def assume(time: str, who: dict[str, Any], role_arn: str, key: str, arn: str) -> Event:
        return _ev(
            time,
            "sts.amazonaws.com",
            "AssumeRole",
            who,
            a,
            read_only=True,
            params={"roleArn": role_arn, "roleSessionName": arn.rsplit("/", 1)[1]},
            response={
                "credentials": {
                    "accessKeyId": key,
                    "sessionToken": "IQoJtest",
                    "expiration": "Jul 16, 2024, 2:00:00 PM",
                },
                "assumedRoleUser": {"assumedRoleId": "AROATEST:x", "arn": arn},
            },
        )

    def modify(time: str, params: dict[str, Any], error: str | None = None) -> Event:
        return _ev(
            time,
            "ec2.amazonaws.com",
            "ModifyInstanceAttribute",
            user,
            a,
            params=params,
            response=None if error else {"_return": True},
            error=error,
        )

    perms = {
        "items": [
            {
                "ipProtocol": "tcp",
                "fromPort": 443,
                "toPort": 443,
                "groups": {},
                "ipRanges": {"items": [{"cidrIp": "10.1.0.0/16"}, {"cidrIp": "0.0.0.0/0"}]},
                "ipv6Ranges": {},
                "prefixListIds": {},
            },
            {
                "ipProtocol": "-1",
                "groups": {"items": [{"groupId": TEST_GROUP_REF}]},
                "ipRanges": {},
                "ipv6Ranges": {"items": [{"cidrIpv6": "2001:db8::/32"}]},
                "prefixListIds": {},
            },
        ]
    }
    console_carol = {
        "type": "IAMUser",
        "principalId": "AIDATESTCAROL0000001",
        "arn": f"arn:aws:iam::{a}:user/carol",
        "accountId": a,
        "accessKeyId": "ASIATESTCAROLCONSOLE",
        "userName": "carol",
    }
    hidden = {
        "type": "IAMUser",
        "principalId": "",
        "accountId": a,
        "accessKeyId": "",
        "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    return [
        # A role chain: user -> chain-role-1 (key 1) -> chain-role-2 in another account (key 2).
        assume(
            "2024-07-16T13:00:00Z",
            user,
            f"arn:aws:iam::{a}:role/chain-role-1",
            CHAIN_KEY_1,
            s1["arn"],
        ),
        _ev("2024-07-16T13:01:00Z", "s3.amazonaws.com", "ListBuckets", s1, a, read_only=True),
        _ev(
            "2024-07-16T13:02:00Z",
            "ec2.amazonaws.com",
            "DescribeInstances",
            s1,
            a,
            read_only=True,
            error="Client.UnauthorizedOperation",
        ),
        assume(
            "2024-07-16T13:03:00Z",
            s1,
            f"arn:aws:iam::{b}:role/chain-role-2",
            CHAIN_KEY_2,
            s2["arn"],
        ),
        _ev("2024-07-16T13:04:00Z", "iam.amazonaws.com", "ListUsers", s2, b, read_only=True),
        _ev(
            "2024-07-16T13:05:00Z",
            "iam.amazonaws.com",
            "CreateAccessKey",
            s2,
            b,
            params={"userName": "chain-user"},
            response={
                "accessKey": {
                    "userName": "chain-user",
                    "accessKeyId": "AKIATESTNEWKEY000001",
                    "status": "Active",
                    "createDate": "Jul 16, 2024, 1:05 PM",
                }
            },
        ),
        # A key for oneself: no userName in the request.
        _ev(
            "2024-07-16T13:06:00Z",
            "iam.amazonaws.com",
            "CreateAccessKey",
            user,
            a,
            response={
                "accessKey": {
                    "userName": "chain-user",
                    "accessKeyId": "AKIATESTNEWKEY000002",
                    "status": "Active",
                    "createDate": "Jul 16, 2024, 1:06 PM",
                }
            },
        ),
        # Root, through a service and failing to sign in.
        _ev(
            "2024-07-16T13:10:00Z",
            "health.amazonaws.com",
            "DescribeEventAggregates",
            {**root, "invokedBy": "health.amazonaws.com"},
            a,
            read_only=True,
            ip="health.amazonaws.com",
            ua="health.amazonaws.com",
        ),
        _ev(
            "2024-07-16T13:20:00Z",
            SIGNIN,
            "ConsoleLogin",
            root,
            a,
            ip="203.0.113.9",
            response={"ConsoleLogin": "Failure"},
            message="Failed authentication",
            extra={
                "LoginTo": "https://console.aws.amazon.com/",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            event_type="AwsConsoleSignIn",
        ),
        _ev(
            "2024-07-16T13:21:00Z",
            SIGNIN,
            "ConsoleLogin",
            hidden,
            a,
            ip="203.0.113.9",
            message="No username found in supplied account",
            event_type="AwsConsoleSignIn",
            extra={"MobileVersion": "No", "MFAUsed": "No"},
        ),
        # Instance type: ok, failed, ok, another attribute, the legacy attribute/value shape.
        modify(
            "2024-07-16T14:00:00Z",
            {"instanceId": TEST_INSTANCE, "instanceType": {"value": "m5.large"}},
        ),
        modify(
            "2024-07-16T14:10:00Z",
            {"instanceId": TEST_INSTANCE, "instanceType": {"value": "m5.xlarge"}},
            error="Client.UnauthorizedOperation",
        ),
        modify(
            "2024-07-16T14:20:00Z",
            {"instanceId": TEST_INSTANCE, "instanceType": {"value": "c5.large"}},
        ),
        modify(
            "2024-07-16T14:30:00Z",
            {"instanceId": TEST_INSTANCE, "disableApiTermination": {"value": True}},
        ),
        modify(
            "2024-07-16T14:40:00Z",
            {"instanceId": TEST_INSTANCE, "attribute": "instanceType", "value": "t3.small"},
        ),
        # Security groups: two rules in one call; a legacy flat request.
        _ev(
            "2024-07-16T15:00:00Z",
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            user,
            a,
            params={"groupId": TEST_GROUP, "ipPermissions": perms},
            response={"requestId": "x", "_return": True},
        ),
        _ev(
            "2024-07-16T15:05:00Z",
            "ec2.amazonaws.com",
            "RevokeSecurityGroupEgress",
            user,
            a,
            params={
                "groupId": TEST_GROUP,
                "ipProtocol": "udp",
                "fromPort": 53,
                "toPort": 53,
                "cidrIp": "192.0.2.0/24",
            },
            response={"requestId": "y", "_return": True},
        ),
        # A failed switch, logged once; a switch into an account that is not in the lake.
        _ev(
            "2024-07-16T16:00:00Z",
            SIGNIN,
            "SwitchRole",
            console_carol,
            a,
            response={"SwitchRole": "Failure"},
            event_type="AwsConsoleSignIn",
            extra={"SwitchFrom": console_carol["arn"], "RedirectTo": "https://console/"},
        ),
        _ev(
            "2024-07-16T16:05:00Z",
            SIGNIN,
            "SwitchRole",
            console_carol,
            a,
            response={"SwitchRole": "Success"},
            event_type="AwsConsoleSignIn",
            extra={"SwitchFrom": console_carol["arn"], "RedirectTo": "https://console/"},
            shared="0f0f0f0f-1111-4222-8333-444455556666",
        ),
        # A denied attempt at a key for oneself: no userName, no response.
        _ev(
            "2024-07-16T16:10:00Z",
            "iam.amazonaws.com",
            "CreateAccessKey",
            user,
            a,
            error="AccessDenied",
        ),
    ]


def _ev(
    time: str,
    source: str,
    name: str,
    identity: dict[str, Any],
    account: str,
    *,
    read_only: bool = False,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
    ip: str = "198.51.100.250",
    ua: str = "aws-cli/2.17.12",
    event_type: str = "AwsApiCall",
    shared: str | None = None,
) -> Event:
    ev: Event = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error:
        ev["errorCode"] = error
        ev["errorMessage"] = message or f"You are not authorized to perform {name}."
    elif message:
        ev["errorMessage"] = message
    ev["requestParameters"] = params
    ev["responseElements"] = response
    if extra is not None:
        ev["additionalEventData"] = extra
    ev["requestID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"req {time} {name}"))
    ev["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"event {time} {name}"))
    ev["readOnly"] = read_only
    ev["eventType"] = event_type
    ev["managementEvent"] = True
    ev["recipientAccountId"] = account
    if shared:
        ev["sharedEventID"] = shared
    ev["eventCategory"] = "Management"
    return ev


# --------------------------------------------------------------------------- helpers


def run(trail: Trail, name: str, **params: Any) -> list[Row]:
    """A saved query's rows with engine-specific Python types made plain (HUGEINT -> int)."""
    return [
        {k: _plain(v) for k, v in row.items()} for row in trail.lake.run(name, **params).to_pylist()
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


#: What the window parameters bind to: the ISO strings queries compare ``eventtime`` with (a
#: bare date as ``until`` means its last second).
BOUND = {
    SINCE: "2024-07-01T00:00:00Z",
    DAY_SINCE: DAY_SINCE,
    DAY_UNTIL: "2024-07-16T23:59:59Z",
}


def bounds(window: tuple[str, str | None]) -> tuple[str, str | None]:
    since, until = window
    return BOUND[since], None if until is None else BOUND[until]


def params_of(window: tuple[str, str | None]) -> dict[str, str]:
    since, until = window
    return {"since": since} | ({"until": until} if until else {})


def in_window(events: Iterable[Event], window: tuple[str, str | None]) -> list[Event]:
    since, until = bounds(window)
    return [
        ev
        for ev in events
        if ev["eventTime"] >= since and (until is None or ev["eventTime"] <= until)
    ]


def get(obj: Any, *path: str) -> Any:
    """Walk nested dicts; None where anything is missing (like a struct field of NULL)."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def scalar(obj: Any, *path: str) -> str | None:
    """``json_extract_scalar``: a scalar as text, NULL for objects, arrays and null."""
    value = get(obj, *path)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list) or value is None:
        return None
    return str(value)


def ident(ev: Event, *path: str) -> Any:
    return get(ev.get("userIdentity"), *path)


def coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def principal(ev: Event, *, invoked_by: bool = False) -> str | None:
    extra = (ident(ev, "invokedBy"),) if invoked_by else ()
    return coalesce(ident(ev, "arn"), ident(ev, "userName"), ident(ev, "principalId"), *extra)


def readonly(ev: Event) -> str | None:
    value = ev.get("readOnly")
    return None if value is None else ("true" if value else "false")


def distinct(values: Iterable[Any]) -> int:
    """``count(DISTINCT x)``: NULLs do not count."""
    return len({v for v in values if v is not None})


def smin(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def smax(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def order(rows: list[Row], *keys: str) -> list[Row]:
    """SQL ORDER BY: ``name`` ascending, ``-name`` descending, NULLs last either way."""
    for key in reversed(keys):
        desc = key.startswith("-")
        col = key.lstrip("-")
        present = sorted(
            (r for r in rows if r[col] is not None), key=lambda r: r[col], reverse=desc
        )
        rows = present + [r for r in rows if r[col] is None]
    return rows


def group(events: Iterable[Event], key: Callable[[Event], tuple[Any, ...]]) -> dict[Any, list]:
    out: dict[Any, list[Event]] = defaultdict(list)
    for ev in events:
        out[key(ev)].append(ev)
    return out


def is_login(ev: Event) -> bool:
    return ev.get("eventSource") == SIGNIN and ev.get("eventName") == "ConsoleLogin"


def login_failed(ev: Event) -> bool:
    return (
        scalar(ev.get("responseElements"), "ConsoleLogin") == "Failure"
        or ev.get("errorCode") is not None
        or ev.get("errorMessage") is not None
    )


def login_user(ev: Event) -> str | None:
    return coalesce(ident(ev, "userName"), ident(ev, "arn"))


def times(evs: list[Event]) -> tuple[str, str]:
    stamps = [e["eventTime"] for e in evs]
    return min(stamps), max(stamps)


# --------------------------------------------------------------------------- the library


def test_every_library_file_parses_with_title_description_and_since() -> None:
    lib = load_library()
    files = sorted(p.stem for p in LIBRARY_DIR.glob("*.sql"))
    assert sorted(lib) == files
    assert len(files) >= 18
    for q in lib.values():
        assert q.title.strip(), q.name
        assert len(q.description) > 40, q.name
        assert q.chart, q.name
        assert not q.meta, f"{q.name}: unknown header lines {q.meta}"
        params = {p.name: p for p in q.params}
        assert params["since"].type == "time" and params["since"].default not in (None, "-")
        assert params["until"].type == "time" and params["until"].default == "-"
        sql = " ".join(q.sql.split())
        assert "eventtime >= :since AND (:until IS NULL OR eventtime <= :until)" in sql, q.name
        for p in q.params:  # every declared parameter is used (DuckDB refuses unused ones)
            assert f":{p.name}" in q.sql, (q.name, p.name)


@pytest.mark.parametrize("name", sorted(load_library()))
@pytest.mark.parametrize("dialect", ["trino", "athena", "spark", "duckdb"])
def test_every_query_translates(name: str, dialect: str) -> None:
    translate(get_query(name).sql, dialect=dialect)


def test_time_filters_bound_partitions() -> None:
    q = get_query("console-logins")
    bound = q.bind({"since": "2024-07-16"})
    assert "event_date >= '2024-07-16'" in translate(q.sql, params=bound).sql


def test_time_parameters_bind_as_iso_strings() -> None:
    for name in ("console-logins", "security-group-changes"):
        bound = get_query(name).bind({"since": DAY_SINCE, "until": DAY_UNTIL})
        assert (bound["since"], bound["until"]) == bounds((DAY_SINCE, DAY_UNTIL))
    bound = get_query("security-group-changes").bind({"since": SINCE, "before": "2024-07-16"})
    assert (bound["since"], bound["before"], bound["hours"]) == (
        BOUND[SINCE],
        "2024-07-16T00:00:00Z",
        24,
    )


def test_required_parameter_missing() -> None:
    with pytest.raises(SavedQueryError) as exc:
        get_query("iam-user-activity").bind({"since": "7d"})
    assert str(exc.value) == "query 'iam-user-activity' needs --param user=VALUE (string)"


@pytest.mark.slow
def test_required_parameter_missing_through_lake(trail: Trail) -> None:
    with pytest.raises(SavedQueryError) as exc:
        trail.lake.run("iam-user-activity", since=SINCE)
    assert str(exc.value) == "query 'iam-user-activity' needs --param user=VALUE (string)"


def test_unknown_parameter(trail: Trail) -> None:
    with pytest.raises(SavedQueryError) as exc:
        trail.lake.run("console-logins", since=SINCE, usr="alice")
    assert exc.value.message == "query 'console-logins' has no parameter 'usr'"
    assert exc.value.hint == "its parameters: since, until, user"


def test_bad_int_parameter(trail: Trail) -> None:
    with pytest.raises(SavedQueryError) as exc:
        trail.lake.run("security-group-changes", since=SINCE, hours="three")
    assert str(exc.value) == (
        "parameter hours of 'security-group-changes' must be a whole number, not 'three'"
    )


def test_bad_time_parameter(trail: Trail) -> None:
    with pytest.raises(Exception, match="cannot read time 'yesterday-ish'"):
        trail.lake.run("root-activity", since="yesterday-ish")


# --------------------------------------------------------------------------- sign-ins


@pytest.mark.parametrize("event_name", [None, "ConsoleLogin"])
@pytest.mark.parametrize("window", WINDOWS)
def test_events_in_window(
    trail: Trail, window: tuple[str, str | None], event_name: str | None
) -> None:
    expected = [
        {
            "eventtime": ev["eventTime"],
            "eventsource": ev.get("eventSource"),
            "eventname": ev.get("eventName"),
            "principal": ident(ev, "arn"),
            "sourceipaddress": ev.get("sourceIPAddress"),
            "awsregion": ev.get("awsRegion"),
            "recipientaccountid": ev.get("recipientAccountId"),
            "errorcode": ev.get("errorCode"),
            "eventid": ev.get("eventID"),
        }
        for ev in in_window(trail.events, window)
        if event_name is None or ev.get("eventName") == event_name
    ]
    params = params_of(window) | ({"event_name": event_name} if event_name else {})
    got = run(trail, "events-in-window", **params)
    # Newest first; events of the same second come in any order.
    assert [r["eventtime"] for r in got] == sorted((r["eventtime"] for r in got), reverse=True)
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected)) and expected


@pytest.mark.parametrize("window", WINDOWS)
def test_console_logins(trail: Trail, window: tuple[str, str | None]) -> None:
    def expected(user: str | None = None) -> list[Row]:
        rows = []
        for ev in in_window(trail.events, window):
            if not is_login(ev):
                continue
            if user is not None and user not in (ident(ev, "userName"), ident(ev, "arn")):
                continue
            resp = scalar(ev.get("responseElements"), "ConsoleLogin")
            outcome = (
                "Failure" if login_failed(ev) else "Success" if resp == "Success" else "Unknown"
            )
            rows.append(
                {
                    "eventtime": ev["eventTime"],
                    "account": ev.get("recipientAccountId"),
                    "identity_type": ident(ev, "type"),
                    "user_name": login_user(ev),
                    "arn": ident(ev, "arn"),
                    "sourceipaddress": ev.get("sourceIPAddress"),
                    "useragent": ev.get("userAgent"),
                    "outcome": outcome,
                    "mfa_used": scalar(ev.get("additionalEventData"), "MFAUsed"),
                    "errormessage": ev.get("errorMessage"),
                    "eventid": ev["eventID"],
                }
            )
        return order(rows, "-eventtime", "eventid")

    got = run(trail, "console-logins", **params_of(window))
    assert got == expected()
    assert {r["outcome"] for r in got} == {"Success", "Failure"}
    if window[1] is None:  # the whole trail: MFA both ways, root, and the brute force
        assert {r["mfa_used"] for r in got} >= {"Yes", "No"}
        assert "Root" in {r["identity_type"] for r in got}
        alice = run(trail, "console-logins", **params_of(window), user="alice")
        assert alice == expected("alice") and alice
        root_arn = f"arn:aws:iam::{trail.accounts[0]}:root"
        assert run(trail, "console-logins", since=SINCE, user=root_arn) == expected(root_arn)


@pytest.mark.parametrize("window", WINDOWS)
def test_failed_console_logins(trail: Trail, window: tuple[str, str | None]) -> None:
    failed = [ev for ev in in_window(trail.events, window) if is_login(ev) and login_failed(ev)]
    rows = []

    def key(ev: Event) -> tuple[Any, ...]:
        return ev["recipientAccountId"], login_user(ev), ev.get("sourceIPAddress")

    for (account, user, ip), evs in group(failed, key).items():
        first, last = times(evs)
        rows.append(
            {
                "account": account,
                "user_name": user,
                "sourceipaddress": ip,
                "failures": len(evs),
                "first_failure": first,
                "last_failure": last,
                "user_agents": distinct(e.get("userAgent") for e in evs),
            }
        )
    expected = order(rows, "-failures", "-last_failure", "account", "user_name", "sourceipaddress")
    got = run(trail, "failed-console-logins", **params_of(window))
    assert got == expected
    # The sign-in service leaves errorCode empty: a query on AccessDenied would find nothing.
    assert sum(r["failures"] for r in got) > sum(1 for ev in failed if ev.get("errorCode"))
    if window[1] is None:
        assert got[0]["sourceipaddress"] == "203.0.113.201"  # the planted brute force
        assert got[0]["user_name"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


@pytest.mark.parametrize("window", WINDOWS)
def test_user_login_facts(trail: Trail, window: tuple[str, str | None]) -> None:
    logins = [ev for ev in in_window(trail.events, window) if is_login(ev)]
    rows = []
    for (account, user), evs in group(
        logins, lambda e: (e["recipientAccountId"], login_user(e))
    ).items():
        ok = [e for e in evs if not login_failed(e)]
        rows.append(
            {
                "account": account,
                "user_name": user,
                "logins": len(evs),
                "successful": len(ok),
                "failed": len(evs) - len(ok),
                "successful_without_mfa": sum(
                    scalar(e.get("additionalEventData"), "MFAUsed") == "No" for e in ok
                ),
                "first_login": times(evs)[0],
                "latest_login": times(evs)[1],
                "latest_success": smax(e["eventTime"] for e in ok),
                "distinct_ips": distinct(e.get("sourceIPAddress") for e in evs),
            }
        )
    got = run(trail, "user-login-facts", **params_of(window))
    assert got == order(rows, "-logins", "account", "user_name")
    assert any(r["successful"] and r["failed"] for r in got) or window[1] is not None


@pytest.mark.parametrize("window", WINDOWS)
def test_switchrole_history(trail: Trail, window: tuple[str, str | None]) -> None:
    def expected(user: str | None = None) -> list[Row]:
        rows = []
        for ev in in_window(trail.events, window):
            if ev.get("eventSource") != SIGNIN or ev.get("eventName") != "SwitchRole":
                continue
            switch_from = scalar(ev.get("additionalEventData"), "SwitchFrom")
            if user is not None and switch_from != user:
                continue
            arn = ident(ev, "arn")
            failed = ev.get("errorCode") is not None or ev.get("errorMessage") is not None
            rows.append(
                {
                    "eventtime": ev["eventTime"],
                    "account": ev.get("recipientAccountId"),
                    "side": "source" if arn is not None and arn == switch_from else "destination",
                    "switch_from": switch_from,
                    "_issuer": ident(ev, "sessionContext", "sessionIssuer", "arn"),
                    "_pair": coalesce(ev.get("sharedEventID"), ev["eventID"]),
                    "principal": arn,
                    "outcome": "Failure"
                    if failed
                    else coalesce(scalar(ev.get("responseElements"), "SwitchRole"), "Unknown"),
                    "mfa_authenticated": ident(
                        ev, "sessionContext", "attributes", "mfaAuthenticated"
                    ),
                    "sourceipaddress": ev.get("sourceIPAddress"),
                    "sharedeventid": ev.get("sharedEventID"),
                    "eventid": ev["eventID"],
                }
            )
        pairs = group(rows, lambda r: r["_pair"])
        for r in rows:
            dest = [p for p in pairs[r["_pair"]] if p["side"] == "destination"]
            r["destination_role"] = smax(p["_issuer"] for p in dest)
            r["destination_account"] = smax(p["account"] for p in dest)
        columns = [
            "eventtime",
            "account",
            "side",
            "switch_from",
            "destination_role",
            "destination_account",
            "principal",
            "outcome",
            "mfa_authenticated",
            "sourceipaddress",
            "sharedeventid",
            "eventid",
        ]
        rows = [{c: r[c] for c in columns} for r in rows]
        return order(rows, "-eventtime", "sharedeventid", "-side", "eventid")

    got = run(trail, "switchrole-history", **params_of(window))
    assert got == expected()
    if window[1] is None:
        assert {r["side"] for r in got} == {"source", "destination"}
        assert {r["outcome"] for r in got} == {"Success", "Failure"}
        paired = [r for r in got if r["side"] == "source" and r["sharedeventid"]]
        # All but the switch into an account that is not in the lake know their destination.
        assert sum(r["destination_role"] is None for r in paired) == 1 < len(paired)
        user = paired[0]["switch_from"]
        assert run(trail, "switchrole-history", since=SINCE, user=user) == expected(user)


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("user", ["alice", "ci-deployer", "chain-user", "nobody"])
def test_iam_user_activity(trail: Trail, user: str) -> None:
    mine = [
        ev
        for ev in in_window(trail.events, (SINCE, None))
        if ident(ev, "type") == "IAMUser" and ident(ev, "userName") == user
    ]
    rows = []
    for (account, source, name), evs in group(
        mine, lambda e: (ident(e, "accountId"), e.get("eventSource"), e.get("eventName"))
    ).items():
        rows.append(
            {
                "account": account,
                "eventsource": source,
                "eventname": name,
                "calls": len(evs),
                "failed": sum(
                    e.get("errorCode") is not None or e.get("errorMessage") is not None for e in evs
                ),
                "source_ips": distinct(e.get("sourceIPAddress") for e in evs),
                "first_seen": times(evs)[0],
                "last_seen": times(evs)[1],
            }
        )
    got = run(trail, "iam-user-activity", since=SINCE, user=user)
    assert got == order(rows, "-calls", "account", "eventsource", "eventname")
    assert bool(got) == (user != "nobody")
    if user == "ci-deployer":
        assert len({r["account"] for r in got}) > 1  # one name, several accounts


@pytest.mark.parametrize("role", [None, "Admin", "chain-role-2"])
def test_iam_role_activity(trail: Trail, role: str | None) -> None:
    issuer = ("sessionContext", "sessionIssuer")
    evs = [
        ev
        for ev in trail.events
        if ident(ev, *issuer, "type") == "Role"
        and (role is None or ident(ev, *issuer, "userName") == role)
    ]
    rows = []
    for (account, name, source, call), grp in group(
        evs,
        lambda e: (
            ident(e, *issuer, "accountId"),
            ident(e, *issuer, "userName"),
            e.get("eventSource"),
            e.get("eventName"),
        ),
    ).items():
        rows.append(
            {
                "account": account,
                "role": name,
                "eventsource": source,
                "eventname": call,
                "calls": len(grp),
                "errors": sum(e.get("errorCode") is not None for e in grp),
                "sessions": distinct(ident(e, "arn") for e in grp),
                "source_ips": distinct(e.get("sourceIPAddress") for e in grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
            }
        )
    params = {"role": role} if role else {}
    got = run(trail, "iam-role-activity", since=SINCE, **params)
    assert got == order(rows, "role", "account", "-calls", "eventsource", "eventname")
    assert got
    if role is None:
        assert any(r["role"].startswith("AWSReservedSSO_") for r in got)


@pytest.mark.parametrize("window", WINDOWS)
def test_root_activity(trail: Trail, window: tuple[str, str | None]) -> None:
    rows = [
        {
            "eventtime": ev["eventTime"],
            "account": ev.get("recipientAccountId"),
            "eventsource": ev.get("eventSource"),
            "eventname": ev.get("eventName"),
            "invoked_by": ident(ev, "invokedBy"),
            "sourceipaddress": ev.get("sourceIPAddress"),
            "useragent": ev.get("userAgent"),
            "mfa": coalesce(
                ident(ev, "sessionContext", "attributes", "mfaAuthenticated"),
                scalar(ev.get("additionalEventData"), "MFAUsed"),
            ),
            "readonly": readonly(ev),
            "errorcode": ev.get("errorCode"),
            "errormessage": ev.get("errorMessage"),
            "eventid": ev["eventID"],
        }
        for ev in in_window(trail.events, window)
        if ident(ev, "type") == "Root"
    ]
    got = run(trail, "root-activity", **params_of(window))
    assert got == order(rows, "-eventtime", "eventid")
    assert {r["invoked_by"] for r in got} == {None, "health.amazonaws.com"}


@pytest.mark.parametrize("window", WINDOWS)
def test_distinct_ips_per_user(trail: Trail, window: tuple[str, str | None]) -> None:
    evs = [ev for ev in in_window(trail.events, window) if principal(ev) is not None]
    rows = []
    for (who, kind), grp in group(evs, lambda e: (principal(e), ident(e, "type"))).items():
        rows.append(
            {
                "principal": who,
                "identity_type": kind,
                "distinct_ips": distinct(e.get("sourceIPAddress") for e in grp),
                "events": len(grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
            }
        )
    expected = order(rows, "-distinct_ips", "-events", "principal", "identity_type")[:50]
    got = run(trail, "distinct-ips-per-user", **params_of(window))
    assert got == expected
    assert len(got) == 50 and len(rows) > 50


@pytest.mark.parametrize("window", WINDOWS)
def test_source_ips_by_identity_type(trail: Trail, window: tuple[str, str | None]) -> None:
    evs = [ev for ev in in_window(trail.events, window) if ev.get("sourceIPAddress") is not None]
    rows = []
    for (kind, ip), grp in group(
        evs, lambda e: (coalesce(ident(e, "type"), "unknown"), e["sourceIPAddress"])
    ).items():
        rows.append(
            {
                "identity_type": kind,
                "sourceipaddress": ip,
                "events": len(grp),
                "principals": distinct(principal(e, invoked_by=True) for e in grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
            }
        )
    got = run(trail, "source-ips-by-identity-type", **params_of(window))
    assert got == order(rows, "identity_type", "-events", "sourceipaddress")
    assert {"AssumedRole", "AWSService", "IAMUser"} <= {r["identity_type"] for r in got}


@pytest.mark.parametrize("window", WINDOWS)
def test_top_iam_users(trail: Trail, window: tuple[str, str | None]) -> None:
    evs = [ev for ev in in_window(trail.events, window) if ident(ev, "type") == "IAMUser"]
    rows = []
    for (account, user), grp in group(
        evs, lambda e: (ident(e, "accountId"), ident(e, "userName"))
    ).items():
        rows.append(
            {
                "account": account,
                "user_name": user,
                "events": len(grp),
                "writes": sum(readonly(e) == "false" for e in grp),
                "errors": sum(e.get("errorCode") is not None for e in grp),
                "event_names": distinct(e.get("eventName") for e in grp),
                "source_ips": distinct(e.get("sourceIPAddress") for e in grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
            }
        )
    got = run(trail, "top-iam-users", **params_of(window))
    assert got == order(rows, "-events", "account", "user_name")[:50]
    assert got


@pytest.mark.parametrize("window", WINDOWS)
def test_console_operations(trail: Trail, window: tuple[str, str | None]) -> None:
    evs = [
        ev
        for ev in in_window(trail.events, window)
        if ev.get("sessionCredentialFromConsole") == "true"
    ]
    rows = []
    for (source, name, ro, who), grp in group(
        evs, lambda e: (e.get("eventSource"), e.get("eventName"), readonly(e), principal(e))
    ).items():
        rows.append(
            {
                "eventsource": source,
                "eventname": name,
                "readonly": ro,
                "principal": who,
                "calls": len(grp),
                "days": distinct(e["eventTime"][:10] for e in grp),
                "errors": sum(e.get("errorCode") is not None for e in grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
            }
        )
    got = run(trail, "console-operations", **params_of(window))
    assert got == order(rows, "-calls", "eventsource", "eventname", "principal", "readonly")
    assert {"true", "false"} <= {r["readonly"] for r in got}


# --------------------------------------------------------------------------- errors


def _bucket(ev: Event, unit: str) -> datetime:
    t = datetime.strptime(ev["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (
        t.replace(minute=0, second=0) if unit == "hour" else t.replace(hour=0, minute=0, second=0)
    )


@pytest.mark.parametrize(
    ("window", "unit", "top"),
    [((SINCE, None), "day", 3), ((DAY_SINCE, DAY_UNTIL), "hour", 10)],
    ids=["all-day-top3", "one-day-hour-top10"],
)
def test_top_api_errors_over_time(
    trail: Trail, window: tuple[str, str | None], unit: str, top: int
) -> None:
    errors = [ev for ev in in_window(trail.events, window) if ev.get("errorCode") is not None]
    totals = Counter(ev["errorCode"] for ev in errors)
    ranked = sorted(totals, key=lambda code: (-totals[code], code))[:top]
    rows = []
    for (bucket, code), grp in group(
        (e for e in errors if e["errorCode"] in ranked),
        lambda e: (_bucket(e, unit), e["errorCode"]),
    ).items():
        rows.append(
            {
                "bucket": bucket,
                "errorcode": code,
                "errors": len(grp),
                "event_names": distinct(e.get("eventName") for e in grp),
                "principals": distinct(principal(e, invoked_by=True) for e in grp),
            }
        )
    got = run(trail, "top-api-errors-over-time", **params_of(window), bucket=unit, top=top)
    assert got == order(rows, "bucket", "-errors", "errorcode")
    assert len({r["errorcode"] for r in got}) == min(top, len(totals))


@pytest.mark.parametrize("window", WINDOWS)
def test_error_overview(trail: Trail, window: tuple[str, str | None]) -> None:
    errors = [ev for ev in in_window(trail.events, window) if ev.get("errorCode") is not None]
    rows = []
    for (code, source, who), grp in group(
        errors, lambda e: (e["errorCode"], e.get("eventSource"), principal(e, invoked_by=True))
    ).items():
        rows.append(
            {
                "errorcode": code,
                "eventsource": source,
                "principal": who,
                "errors": len(grp),
                "event_names": distinct(e.get("eventName") for e in grp),
                "first_seen": times(grp)[0],
                "last_seen": times(grp)[1],
                "example_message": smin(e.get("errorMessage") for e in grp),
            }
        )
    got = run(trail, "error-overview", **params_of(window))
    assert got == order(rows, "-errors", "errorcode", "eventsource", "principal")
    assert sum(r["errors"] for r in got) == len(errors)


# --------------------------------------------------------------------------- changes

SG_EVENTS = {
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "ModifyNetworkInterfaceAttribute",
}


def _values_of(doc: Any, keys: set[str]) -> list[str] | None:
    """Every non-empty string value under one of ``keys``, in document order (the regex the
    query runs over the JSON text finds them in the same order); None for a NULL document."""
    if doc is None:
        return None
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in keys and isinstance(v, str) and v:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _sg_rows(
    trail: Trail,
    window: tuple[str, str | None],
    *,
    group_id: str | None = None,
    eni: str | None = None,
    before: str | None = None,
    hours: int = 24,
) -> list[Row]:
    rows = []
    for ev in in_window(trail.events, window):
        if ev.get("eventSource") != "ec2.amazonaws.com" or ev.get("eventName") not in SG_EVENTS:
            continue
        if before is not None:
            end = datetime.strptime(before, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            start = (end - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if not start <= ev["eventTime"] <= before:
                continue
        rp, re_ = ev.get("requestParameters"), ev.get("responseElements")
        items = get(rp, "ipPermissions", "items")
        first = items[0] if isinstance(items, list) and items else None
        cidrs = _values_of(rp, {"cidrIp", "cidrIpv6"})
        groups = _values_of(rp, {"groupId"})
        row = {
            "eventtime": ev["eventTime"],
            "account": ev.get("recipientAccountId"),
            "region": ev.get("awsRegion"),
            "eventname": ev["eventName"],
            "group_id": coalesce(scalar(rp, "groupId"), scalar(re_, "groupId")),
            "group_name": scalar(rp, "groupName"),
            "network_interface": scalar(rp, "networkInterfaceId"),
            "protocol": coalesce(scalar(first, "ipProtocol"), scalar(rp, "ipProtocol")),
            "from_port": _int(coalesce(scalar(first, "fromPort"), scalar(rp, "fromPort"))),
            "to_port": _int(coalesce(scalar(first, "toPort"), scalar(rp, "toPort"))),
            "rules": len(items) if isinstance(items, list) else None,
            "cidrs": cidrs,
            "open_to_world": bool(cidrs) and ("0.0.0.0/0" in cidrs or "::/0" in cidrs),
            "security_groups": groups,
            "principal": principal(ev, invoked_by=True),
            "sourceipaddress": ev.get("sourceIPAddress"),
            "errorcode": ev.get("errorCode"),
            "eventid": ev["eventID"],
        }
        if group_id is not None and row["group_id"] != group_id and group_id not in (groups or []):
            continue
        if eni is not None and row["network_interface"] != eni:
            continue
        rows.append(row)
    return order(rows, "-eventtime", "eventid")


@pytest.mark.parametrize("window", WINDOWS)
def test_security_group_changes(trail: Trail, window: tuple[str, str | None]) -> None:
    got = run(trail, "security-group-changes", **params_of(window))
    assert got == _sg_rows(trail, window)
    assert {r["eventname"] for r in got} >= SG_EVENTS - {"RevokeSecurityGroupEgress"}
    world = [r for r in got if r["open_to_world"]]
    assert {c for r in world for c in r["cidrs"]} >= {"0.0.0.0/0", "::/0"}
    mine = next(r for r in got if r["group_id"] == TEST_GROUP and r["rules"] == 2)
    assert mine["cidrs"] == ["10.1.0.0/16", "0.0.0.0/0", "2001:db8::/32"]
    assert mine["security_groups"] == [TEST_GROUP, TEST_GROUP_REF]
    assert (mine["protocol"], mine["from_port"], mine["to_port"]) == ("tcp", 443, 443)
    legacy = next(r for r in got if r["eventname"] == "RevokeSecurityGroupEgress")
    assert (legacy["protocol"], legacy["from_port"], legacy["cidrs"]) == (
        "udp",
        53,
        ["192.0.2.0/24"],
    )


def test_security_group_changes_filters(trail: Trail) -> None:
    window = (SINCE, None)
    everything = _sg_rows(trail, window)
    eni = next(r["network_interface"] for r in everything if r["network_interface"])
    busiest = Counter(g for r in everything for g in (r["security_groups"] or [])).most_common(1)
    group_id = busiest[0][0]
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"group": TEST_GROUP_REF}, {"group_id": TEST_GROUP_REF}),
        ({"group": group_id}, {"group_id": group_id}),
        ({"eni": eni}, {"eni": eni}),
        (
            {"before": "2024-07-16T15:30:00Z", "hours": "3"},
            {"before": "2024-07-16T15:30:00Z", "hours": 3},
        ),
        ({"before": "2024-07-17T12:00:00Z"}, {"before": "2024-07-17T12:00:00Z"}),
    ]
    for params, kwargs in cases:
        got = run(trail, "security-group-changes", since=SINCE, **params)
        expected = _sg_rows(trail, window, **kwargs)
        assert got == expected, params
        assert 0 < len(got) < len(everything), params


def _type_changes(trail: Trail, window: tuple[str, str | None]) -> list[Row]:
    rows = []
    for ev in in_window(trail.events, window):
        if ev.get("eventSource") != "ec2.amazonaws.com":
            continue
        if ev.get("eventName") != "ModifyInstanceAttribute":
            continue
        rp = ev.get("requestParameters")
        new = coalesce(
            scalar(rp, "instanceType", "value"),
            scalar(rp, "instanceType"),
            scalar(rp, "value") if scalar(rp, "attribute") == "instanceType" else None,
        )
        if new is None:
            continue
        rows.append(
            {
                "eventtime": ev["eventTime"],
                "account": ev.get("recipientAccountId"),
                "region": ev.get("awsRegion"),
                "instance_id": scalar(rp, "instanceId"),
                "previous_type": None,
                "new_type": new,
                "previous_change": None,
                "principal": principal(ev, invoked_by=True),
                "sourceipaddress": ev.get("sourceIPAddress"),
                "errorcode": ev.get("errorCode"),
                "eventid": ev["eventID"],
            }
        )
    for grp in group(rows, lambda r: (r["account"], r["region"], r["instance_id"])).values():
        last: Row | None = None
        for r in order(grp, "eventtime", "eventid"):
            if last is not None:
                r["previous_type"], r["previous_change"] = last["new_type"], last["eventtime"]
            if r["errorcode"] is None:
                last = r
    return order(rows, "-eventtime", "eventid")


@pytest.mark.parametrize("window", WINDOWS)
def test_instance_type_changes(trail: Trail, window: tuple[str, str | None]) -> None:
    expected = _type_changes(trail, window)
    got = run(trail, "instance-type-changes", **params_of(window))
    assert got == expected
    mine = run(trail, "instance-type-changes", **params_of(window), instance=TEST_INSTANCE)
    assert mine == [r for r in expected if r["instance_id"] == TEST_INSTANCE]
    assert [(r["previous_type"], r["new_type"], r["errorcode"]) for r in mine] == [
        ("c5.large", "t3.small", None),
        ("m5.large", "c5.large", None),
        ("m5.large", "m5.xlarge", "Client.UnauthorizedOperation"),
        (None, "m5.large", None),
    ]
    assert len({r["instance_id"] for r in got}) > 1


@pytest.mark.parametrize("window", WINDOWS)
def test_access_keys_created(trail: Trail, window: tuple[str, str | None]) -> None:
    rows = []
    for ev in in_window(trail.events, window):
        if ev.get("eventSource") != "iam.amazonaws.com" or ev.get("eventName") != (
            "CreateAccessKey"
        ):
            continue
        rp, resp = ev.get("requestParameters"), ev.get("responseElements")
        target = scalar(rp, "userName")
        is_user = ident(ev, "type") == "IAMUser"
        rows.append(
            {
                "eventtime": ev["eventTime"],
                "account": ev.get("recipientAccountId"),
                "caller_type": ident(ev, "type"),
                "caller": principal(ev),
                "key_user": coalesce(
                    target,
                    scalar(resp, "accessKey", "userName"),
                    ident(ev, "userName") if is_user else None,
                ),
                "access_key_id": scalar(resp, "accessKey", "accessKeyId"),
                "for_other_user": target is not None
                and not (is_user and target == ident(ev, "userName")),
                "sourceipaddress": ev.get("sourceIPAddress"),
                "useragent": ev.get("userAgent"),
                "errorcode": ev.get("errorCode"),
                "eventid": ev["eventID"],
            }
        )
    got = run(trail, "access-keys-created", **params_of(window))
    assert got == order(rows, "-eventtime", "eventid")
    assert {r["for_other_user"] for r in got} == {True, False}
    denied = next(
        r
        for r in got
        if r["errorcode"] == "AccessDenied" and r["caller"].endswith(":user/chain-user")
    )
    assert (denied["key_user"], denied["for_other_user"]) == ("chain-user", False)
    if window[1] is None:  # the planted incident: alice made a key for bob
        alice = [r for r in got if r["caller"].endswith(":user/alice")]
        assert ("bob", True) in [(r["key_user"], r["for_other_user"]) for r in alice]


# --------------------------------------------------------------------------- chains


def _chains(trail: Trail, window: tuple[str, str | None], key: str | None = None) -> list[Row]:
    evs = in_window(trail.events, window)
    steps: list[Row] = []
    for ev in evs:
        resp = ev.get("responseElements")
        link = scalar(resp, "credentials", "accessKeyId")
        if ev.get("eventSource") != "sts.amazonaws.com" or link is None:
            continue
        steps.append(
            {
                "started": ev["eventTime"],
                "step": ev.get("eventName"),
                "account": ev.get("recipientAccountId"),
                "from_principal": principal(ev, invoked_by=True),
                "from_key": ident(ev, "accessKeyId"),
                "to_principal": coalesce(
                    scalar(resp, "assumedRoleUser", "arn"), scalar(resp, "federatedUser", "arn")
                ),
                "link": link,
                "session_key": link,
                "eventid": ev["eventID"],
            }
        )
    switches = []
    for ev in evs:
        if ev.get("eventSource") != SIGNIN or ev.get("eventName") != "SwitchRole":
            continue
        if ev.get("errorCode") is not None or ev.get("errorMessage") is not None:
            continue
        if scalar(ev.get("responseElements"), "SwitchRole") == "Failure":
            continue
        switch_from = scalar(ev.get("additionalEventData"), "SwitchFrom")
        switches.append(
            (ev, switch_from, ident(ev, "arn") is not None and ident(ev, "arn") == switch_from)
        )
    dests = [(ev, sf) for ev, sf, is_source in switches if not is_source]
    sources = [(ev, sf) for ev, sf, is_source in switches if is_source]
    matched_sources: set[int] = set()
    pairs: list[tuple[tuple[Event, str] | None, tuple[Event, str] | None]] = []
    for d in dests:
        shared = d[0].get("sharedEventID")
        found = [
            i
            for i, s in enumerate(sources)
            if shared is not None and s[0].get("sharedEventID") == shared
        ]
        matched_sources.update(found)
        pairs.extend([(d, sources[i]) for i in found] or [(d, None)])
    pairs.extend((None, s) for i, s in enumerate(sources) if i not in matched_sources)
    for d, s in pairs:
        dev, sev = (d[0] if d else None), (s[0] if s else None)
        steps.append(
            {
                "started": coalesce(get(dev, "eventTime"), get(sev, "eventTime")),
                "step": "SwitchRole",
                "account": coalesce(get(dev, "recipientAccountId"), get(sev, "recipientAccountId")),
                "from_principal": coalesce(d[1] if d else None, s[1] if s else None),
                "from_key": get(sev, "userIdentity", "accessKeyId"),
                "to_principal": get(dev, "userIdentity", "arn"),
                "link": coalesce(get(dev, "sharedEventID"), get(sev, "sharedEventID")),
                "session_key": get(dev, "userIdentity", "accessKeyId"),
                "eventid": coalesce(get(dev, "eventID"), get(sev, "eventID")),
            }
        )
    keys = {s["session_key"] for s in steps if s["session_key"] is not None}
    used = group(
        (
            ev
            for ev in evs
            if ev.get("eventSource") is not None
            and ev["eventSource"] != SIGNIN
            and ident(ev, "accessKeyId") in keys
        ),
        lambda e: ident(e, "accessKeyId"),
    )
    rows = []
    for st in steps:
        acts = used.get(st["session_key"], []) if st["session_key"] is not None else []
        if key is not None and key not in (st["session_key"], st["from_key"]):
            continue
        rows.append(
            st
            | {
                "actions": len(acts),
                "errors": sum(e.get("errorCode") is not None for e in acts),
                "first_action": times(acts)[0] if acts else None,
                "last_action": times(acts)[1] if acts else None,
                "event_names": sorted({e["eventName"] for e in acts}) if acts else None,
            }
        )
    columns = [
        "started",
        "step",
        "account",
        "from_principal",
        "from_key",
        "to_principal",
        "link",
        "session_key",
        "actions",
        "errors",
        "first_action",
        "last_action",
        "event_names",
        "eventid",
    ]
    return order([{c: r[c] for c in columns} for r in rows], "-started", "eventid")


@pytest.mark.parametrize("window", WINDOWS)
def test_identity_chains(trail: Trail, window: tuple[str, str | None]) -> None:
    got = run(trail, "identity-chains", **params_of(window))
    assert got == _chains(trail, window)
    by_key = {r["session_key"]: r for r in got if r["session_key"]}
    one, two = by_key[CHAIN_KEY_1], by_key[CHAIN_KEY_2]
    assert (one["from_key"], one["actions"], one["errors"]) == (CHAIN_USER_KEY, 3, 1)
    assert one["event_names"] == ["AssumeRole", "DescribeInstances", "ListBuckets"]
    assert (two["from_key"], two["actions"]) == (CHAIN_KEY_1, 2)  # role chaining
    switched = [r for r in got if r["step"] == "SwitchRole"]
    assert switched and all(r["link"] and r["from_key"] for r in switched)
    assert any(r["actions"] for r in switched)
    unpaired = [r for r in switched if r["to_principal"] is None]
    assert [r["from_principal"] for r in unpaired] == [
        f"arn:aws:iam::{trail.accounts[0]}:user/carol"
    ]


def test_identity_chains_by_key(trail: Trail) -> None:
    got = run(trail, "identity-chains", since=SINCE, key=CHAIN_KEY_1)
    assert got == _chains(trail, (SINCE, None), key=CHAIN_KEY_1)
    assert [r["session_key"] for r in got] == [CHAIN_KEY_2, CHAIN_KEY_1]
