"""Identity context and account names on the web event page, and as filters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trailscope.enrich.accounts import Account, accounts_table
from trailscope.enrich.context import human_behind
from trailscope.enrich.iptable import enrich_lake
from trailscope.facade import Lake
from trailscope.web.app import create_app

ACCT, OTHER = "111122223333", "444455556666"


def _sts(time: str, eid: str, who: dict[str, Any], role: str, new_key: str, **extra: Any) -> dict:
    return {
        "eventVersion": "1.08",
        "eventTime": time,
        "eventID": eid,
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "81.2.69.160",
        "recipientAccountId": ACCT,
        "userIdentity": who,
        "requestParameters": {
            "roleArn": f"arn:aws:iam::{OTHER}:role/{role}",
            "roleSessionName": "s",
            **extra,
        },
        "responseElements": {
            "credentials": {"accessKeyId": new_key, "expiration": "x", "sessionToken": "t"},
            "assumedRoleUser": {"arn": f"arn:aws:sts::{OTHER}:assumed-role/{role}/s"},
        },
    }


def _session(role: str, key: str, source_identity: str | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{OTHER}:role/{role}"},
    }
    if source_identity:
        ctx["sourceIdentity"] = source_identity
    return {
        "type": "AssumedRole",
        "principalId": f"AROAX:{role}",
        "arn": f"arn:aws:sts::{OTHER}:assumed-role/{role}/s",
        "accountId": OTHER,
        "accessKeyId": key,
        "sessionContext": ctx,
    }


ALICE = {
    "type": "IAMUser",
    "principalId": "AIDAALICE",
    "arn": f"arn:aws:iam::{ACCT}:user/alice",
    "accountId": ACCT,
    "accessKeyId": "AKIAALICE",
    "userName": "alice",
}
EVENTS = [
    _sts("2024-07-10T09:00:00Z", "e-1", ALICE, "Hop", "ASIAHOP1"),
    _sts("2024-07-10T09:05:00Z", "e-2", _session("Hop", "ASIAHOP1"), "Admin", "ASIAADMIN"),
    {
        "eventVersion": "1.08",
        "eventTime": "2024-07-10T09:10:00Z",
        "eventID": "e-3",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "80.133.40.12",
        "recipientAccountId": OTHER,
        "userIdentity": _session("Admin", "ASIAADMIN"),
    },
    {
        "eventVersion": "1.08",
        "eventTime": "2024-07-10T09:20:00Z",
        "eventID": "e-4",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.1.2.3",
        "recipientAccountId": OTHER,
        "userIdentity": _session("Deploy", "ASIAOTHER", source_identity="dana@example.com"),
    },
    {
        "eventVersion": "1.08",
        "eventTime": "2024-07-10T09:30:00Z",
        "eventID": "e-5",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "80.133.40.12",
        "recipientAccountId": OTHER,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAX:erin",
            "arn": f"arn:aws:sts::{OTHER}:assumed-role/AWSReservedSSO_Admin_0123/erin",
            "accountId": OTHER,
            "accessKeyId": "ASIASSO",
            "onBehalfOf": {
                "userId": "94482488-3041-7026-18f3-be45837cd0e4",
                "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1",
            },
        },
    },
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("context")
    (root / "trail").mkdir()
    (root / "trail" / "events.json").write_text(json.dumps({"Records": EVENTS}))
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    enrich_lake(lk)
    names = accounts_table([Account(ACCT, "management"), Account(OTHER, "prod-payments")])
    lk.update_table("accounts", lambda _: names, operation="enrich")
    return lk


def _query(lake: Lake):
    return lambda sql, params: lake.query(sql, params=params).to_pylist()


def test_the_chain_is_followed_back_to_the_user(lake: Lake) -> None:
    human = human_behind(_query(lake), EVENTS[2])
    assert human is not None
    assert [s["eventid"] for s in human["chain"]] == ["e-2", "e-1"]
    assert human["chain"][-1]["principal"] == f"arn:aws:iam::{ACCT}:user/alice"
    assert human["person"] == f"arn:aws:iam::{ACCT}:user/alice"


def test_source_identity_and_identity_center(lake: Lake) -> None:
    q = _query(lake)
    assert human_behind(q, EVENTS[3])["person"] == "dana@example.com"  # type: ignore[index]
    sso = human_behind(q, EVENTS[4])
    assert sso is not None
    assert sso["identity_center_user"] == "94482488-3041-7026-18f3-be45837cd0e4"
    assert sso["session_name"] == "erin" and sso["chain"] == []
    assert human_behind(q, EVENTS[0]) is None  # an IAM user's own call


def test_event_page_shows_names_place_and_the_human(lake: Lake) -> None:
    client = TestClient(create_app(lake.root))
    page = client.get("/event/e-3?t=2024-07-10T09:10:00Z")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert f'{OTHER} <span class="account-name">prod-payments</span>' in text
    assert '80.133.40.12 <span class="place">(public, Germany)</span>' in text
    assert f"<dt>behind the session</dt><dd>arn:aws:iam::{ACCT}:user/alice" in text
    data = client.get("/event/e-3.json?t=2024-07-10T09:10:00Z").json()
    ctx = data["context"][0]
    assert ctx["account_name"] == "prod-payments" and ctx["place"]["country"] == "DE"
    assert [s["eventid"] for s in ctx["human"]["chain"]] == ["e-2", "e-1"]


def test_account_filter_takes_a_name_pattern(lake: Lake) -> None:
    client = TestClient(create_app(lake.root))
    got = client.get("/events.json?range=all&account=prod-*").json()
    ids = sorted(r["eventid"] for r in got["rows"])
    assert ids == ["e-3", "e-4", "e-5"]
    got = client.get(f"/events.json?range=all&account={ACCT}").json()
    assert sorted(r["eventid"] for r in got["rows"]) == ["e-1", "e-2"]
    assert client.get("/events.json?range=all&account=nothing-*").json()["rows"] == []


def test_principal_filter_finds_the_source_identity(lake: Lake) -> None:
    client = TestClient(create_app(lake.root))
    got = client.get("/events.json?range=all&principal=dana@example").json()
    assert [r["eventid"] for r in got["rows"]] == ["e-4"]


def test_escaped_on_the_page(tmp_path: Path) -> None:
    evil = dict(EVENTS[3], eventID="x-1")
    evil["userIdentity"] = _session(
        "Deploy", "ASIAEVIL", source_identity="<script>alert(1)</script>"
    )
    (tmp_path / "trail").mkdir()
    (tmp_path / "trail" / "e.json").write_text(json.dumps({"Records": [evil]}))
    lk = Lake(tmp_path / "lake")
    lk.ingest(str(tmp_path / "trail"), workers=1)
    page = TestClient(create_app(lk.root)).get("/event/x-1")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
