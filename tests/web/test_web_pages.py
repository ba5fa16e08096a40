"""Dashboards, drill-down, event JSON, workbench and lake status through the HTTP API.

Every number is checked against an independent answer: plain Python over the trail's raw
events (tests/web/web_expect.py), or the same question asked through the Python API.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from html import unescape

import pytest
from web_expect import back, console_logins, in_range, latest, login_outcome, principal, top

from trailscope.web.dashboards import load_builtin

DASHBOARDS = load_builtin()


def test_root_redirects_to_the_overview(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/d/overview"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_dashboard_renders_without_panel_errors(client, name):
    data = client.get(f"/api/d/{name}?range=all").json()
    assert [p["id"] for p in data["panels"]] == [p.id for p in DASHBOARDS[name].panels]
    assert [p.get("error") for p in data["panels"]] == [None] * len(data["panels"])
    assert any(p["rows"] for p in data["panels"])
    html = client.get(f"/d/{name}?range=all")
    assert html.status_code == 200
    assert 'class="error"' not in html.text


def test_overview_totals_match_the_raw_trail(client, demo_lake):
    events = demo_lake.events
    data = client.get("/api/d/overview?range=all").json()
    totals = data["panels"][0]["rows"][0]
    assert totals["events"] == len(events)
    assert totals["errors"] == sum(1 for ev in events if ev.get("errorCode"))
    assert totals["accounts"] == len({ev["recipientAccountId"] for ev in events})
    assert totals["writes"] == sum(1 for ev in events if ev.get("readOnly") is False)
    assert totals["regions"] == len({ev["awsRegion"] for ev in events})
    # the page shows the same numbers as its JSON twin
    html = client.get("/d/overview?range=all").text
    tile = re.search(r'data-stat="events"><dt>[^<]*</dt><dd>([^<]+)</dd>', html)
    assert tile and tile.group(1) == f"{len(events):,}"


def test_relative_ranges_count_back_from_now_and_say_when_they_miss_the_lake(client, demo_lake):
    from datetime import UTC, datetime

    events = demo_lake.events
    last = latest(events)
    for rng, delta in (("24h", {"hours": 24}), ("1h", {"hours": 1})):
        before = datetime.now(UTC)
        data = client.get(f"/api/d/overview?range={rng}").json()
        until = datetime.fromisoformat(data["filters"]["until"].replace("Z", "+00:00"))
        assert 0 <= (until - before).total_seconds() <= 61  # now, to the next whole minute
        assert data["filters"]["since"] == back(data["filters"]["until"], **delta)
        assert data["panels"][0]["rows"][0]["events"] == 0  # the demo lake is from 2024
        coverage = data["filters"]["coverage"]
        assert coverage["kind"] == "none"
        assert coverage["lake_last"] == last.replace("T23:59:00", "T23:59:00Z")
        # the page says so, and links to the same window ending at the lake's last event
        html = client.get(f"/d/overview?range={rng}").text
        assert "No events of the lake fall in this window." in html
        link = unescape(re.search(r'<a href="([^"]+)" id="shift">', html).group(1))
        shifted = client.get("/api" + link).json()
        end = coverage["lake_last"]
        assert shifted["filters"]["until"] == end
        assert shifted["filters"]["since"] == back(end, **delta)
        expected = len(in_range(events, back(end, **delta), last))
        assert shifted["panels"][0]["rows"][0]["events"] == expected > 0


def test_top_event_names_and_time_chart(client, demo_lake):
    events = demo_lake.events
    data = client.get("/api/d/overview?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    shown = [(r["label"], r["n"]) for r in panels["event_names"]["rows"]]
    assert shown == top(Counter(ev["eventName"] for ev in events))
    assert sum(r["n"] for r in panels["over_time"]["rows"]) == len(events)
    regions = {r["label"]: r["n"] for r in panels["regions"]["rows"]}
    assert regions == dict(Counter(ev["awsRegion"] for ev in events))


def test_account_region_principal_and_source_filters(client, demo_lake):
    events = demo_lake.events
    acct = demo_lake.account
    q = f"/api/d/overview?range=all&account={acct}&region=us-east-1&source=s3.amazonaws.com"
    totals = client.get(q).json()["panels"][0]["rows"][0]
    expected = [
        ev
        for ev in events
        if ev["recipientAccountId"] == acct
        and ev["awsRegion"] == "us-east-1"
        and ev["eventSource"] == "s3.amazonaws.com"
    ]
    assert totals["events"] == len(expected) > 0
    busiest = top(Counter(principal(ev) for ev in events), 1)[0]
    data = client.get("/api/d/overview", params={"range": "all", "principal": busiest[0]}).json()
    assert data["panels"][0]["rows"][0]["events"] == busiest[1]


def test_stack_by_account(client, demo_lake):
    data = client.get("/api/d/overview?range=all&stack=account").json()
    series = Counter()
    for r in data["panels"][1]["rows"]:
        series[r["series"]] += r["n"]
    assert series == Counter(ev["recipientAccountId"] for ev in demo_lake.events)


def test_console_logins_dashboard(client, demo_lake):
    logins = console_logins(demo_lake.events)
    data = client.get("/api/d/logins?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    totals = panels["totals"]["rows"][0]
    outcomes = Counter(login_outcome(ev) for ev in logins)
    assert totals["logins"] == len(logins) > 0
    assert totals["failed"] == outcomes["Failure"] > 0
    assert totals["successful"] == outcomes["Success"]
    no_mfa = [
        ev
        for ev in logins
        if login_outcome(ev) == "Success"
        and (ev.get("additionalEventData") or {}).get("MFAUsed") == "No"
    ]
    assert totals["successful_without_mfa"] == len(no_mfa) > 0
    assert sorted(r["eventid"] for r in panels["without_mfa"]["rows"]) == sorted(
        ev["eventID"] for ev in no_mfa
    )
    failed_ips = Counter(ev["sourceIPAddress"] for ev in logins if login_outcome(ev) == "Failure")
    assert [(r["label"], r["n"]) for r in panels["failed_by_ip"]["rows"]] == top(failed_ips)


def test_errors_dashboard(client, demo_lake):
    failing = [ev for ev in demo_lake.events if ev.get("errorCode")]
    data = client.get("/api/d/errors?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    assert panels["totals"]["rows"][0]["errors"] == len(failing)
    by_code = Counter(ev["errorCode"] for ev in failing)
    assert [(r["label"], r["n"]) for r in panels["by_code"]["rows"]] == top(by_code)
    calls = Counter(
        (ev["eventSource"], ev["eventName"], ev["errorCode"], principal(ev)) for ev in failing
    )
    first = panels["repeated"]["rows"][0]
    key = (first["eventsource"], first["eventname"], first["errorcode"], first["principal"])
    assert first["calls"] == calls[key] == max(calls.values())


def test_identity_dashboard(client, demo_lake):
    events = demo_lake.events
    data = client.get("/api/d/identity?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    created = [ev for ev in events if ev["eventName"] == "CreateAccessKey"]
    assert sorted(r["eventid"] for r in panels["access_keys"]["rows"]) == sorted(
        ev["eventID"] for ev in created
    )
    root = Counter(ev["eventName"] for ev in events if ev["userIdentity"].get("type") == "Root")
    shown = Counter()
    for r in panels["root"]["rows"]:
        shown[r["eventname"]] += r["events"]
    assert shown == root
    users = Counter(
        ev["userIdentity"].get("userName")
        for ev in events
        if ev["userIdentity"].get("type") == "IAMUser"
    )
    assert [(r["label"], r["n"]) for r in panels["iam_users"]["rows"]] == top(users)


def test_security_groups_table_equals_the_saved_query(client, lake, demo_lake):
    data = client.get("/api/d/security-groups?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    f = data["filters"]
    expected = lake.run("security-group-changes", since=f["since"], until=f["until"]).to_pylist()
    # the table is paged: every row is on one of its pages, in the saved query's order
    assert panels["changes"]["total_rows"] == len(expected) > 50
    pages = panels["changes"]["pages"]
    shown = []
    for page in range(1, pages + 1):
        q = {"range": "all", "changes_page": str(page)}
        shown += client.get("/api/d/security-groups", params=q).json()["panels"][2]["rows"]
    assert shown == expected
    opened = [r for r in expected if r["open_to_world"]]
    assert panels["totals"]["rows"][0]["open_to_world"] == len(opened) > 0
    # "open to the world only" shows exactly those, and the tile links to it
    only = client.get("/api/d/security-groups", params={"range": "all", "open": "1"}).json()
    assert only["panels"][2]["rows"] == opened[:50]
    assert only["panels"][2]["total_rows"] == len(opened)
    html = client.get("/d/security-groups?range=all").text
    tile = re.search(r'data-stat="open_to_world"><dt>[^<]*</dt><dd><a href="([^"]+)"', html)
    assert tile and "open=1" in unescape(tile.group(1))
    # "the N hours before" a moment, and one group
    moment, group = expected[0]["eventtime"], expected[0]["group_id"]
    q = {"range": "all", "before": moment, "hours": "6", "group": group}
    rows = client.get("/api/d/security-groups", params=q).json()["panels"][2]["rows"]
    assert (
        rows
        == lake.run(
            "security-group-changes",
            since=f["since"],
            until=f["until"],
            before=moment,
            hours=6,
            group=group,
        ).to_pylist()
    )


@pytest.mark.parametrize(
    ("criterion", "session", "agent"),
    [("any", True, True), ("session", True, False), ("agent", False, True)],
)
def test_console_usage_dashboard(client, demo_lake, criterion, session, agent):
    def by_console(ev):
        return (session and ev.get("sessionCredentialFromConsole") == "true") or (
            agent and ev.get("userAgent") == "console.amazonaws.com"
        )

    console = [ev for ev in demo_lake.events if by_console(ev)]
    data = client.get(f"/api/d/console?range=all&criterion={criterion}").json()
    panels = {p["id"]: p for p in data["panels"]}
    assert panels["totals"]["rows"][0]["calls"] == len(console) > 0
    changes = Counter(ev["eventName"] for ev in console if ev.get("readOnly") is False)
    assert [(r["label"], r["n"]) for r in panels["changes_by_name"]["rows"]] == top(changes)
    # the Kibana recipe's criterion alone finds the console calls it was written for
    if criterion == "agent":
        assert panels["totals"]["rows"][0]["calls"] == 2
    # a bar drills down to exactly its events, with the same criterion
    html = client.get(f"/d/console?range=all&criterion={criterion}").text
    by_user = html[html.index('id="panel-by_user"') :]
    link = unescape(re.search(r'<a href="(/events\?[^"]*principal_is=[^"]*)"', by_user).group(1))
    drilled = client.get("/api" + link).json()
    who = drilled["conditions"][-1]["label"].split(" = ", 1)[1]
    assert drilled["total"] == sum(1 for ev in console if principal(ev) == who) > 0


def test_drill_down_to_events_and_pages(client, demo_lake):
    failed = [ev for ev in console_logins(demo_lake.events) if login_outcome(ev) == "Failure"]
    q = "range=all&source=signin.amazonaws.com&eventname=ConsoleLogin&outcome=Failure"
    data = client.get(f"/api/events?{q}").json()
    assert data["total"] == len(failed)
    newest = sorted(failed, key=lambda e: (e["eventTime"], _rev(e["eventID"])), reverse=True)
    assert [r["eventid"] for r in data["rows"]] == [ev["eventID"] for ev in newest[:50]]
    everything = client.get("/api/events?range=all").json()
    assert everything["total"] == len(demo_lake.events)
    assert everything["pages"] == -(-len(demo_lake.events) // 50)
    second = client.get("/api/events?range=all&page=2").json()
    assert not {r["eventid"] for r in second["rows"]} & {r["eventid"] for r in everything["rows"]}
    times = [r["eventtime"] for r in everything["rows"] + second["rows"]]
    assert times == sorted(times, reverse=True)
    # the dashboards' bar links lead to exactly the events they counted
    html = client.get("/d/logins?range=all").text
    link = re.search(r'<a href="(/events\?[^"]*outcome=Failure[^"]*ip=[^"]*)"', html)
    assert link, "no drill-down link on the failed-by-IP bars"
    url = unescape(link.group(1))
    ip = re.search(r"ip=([^&]+)", url).group(1)
    drilled = client.get("/api" + url).json()
    assert drilled["total"] == sum(1 for ev in failed if ev["sourceIPAddress"] == ip)


def _rev(text: str) -> tuple[int, ...]:
    """A key that sorts equal-length IDs descending, so ``reverse=True`` orders them ascending
    (the events table's tie-break: newest first, then by eventid)."""
    return tuple(-ord(c) for c in text)


def test_event_json_is_the_recorded_event(client, demo_lake):
    original = next(ev for ev in demo_lake.events if ev["eventName"] == "ConsoleLogin")
    r = client.get(f"/api/event/{original['eventID']}", params={"t": original["eventTime"]})
    assert r.status_code == 200
    shown = r.json()["events"][0]
    for key in ("eventTime", "eventSource", "eventName", "sourceIPAddress", "userAgent"):
        assert shown[key] == original[key]
    assert shown["userIdentity"]["arn"] == original["userIdentity"]["arn"]
    assert shown["responseElements"] == original["responseElements"]
    assert shown["additionalEventData"] == original["additionalEventData"]
    labels = [p["label"] for p in r.json()["pivots"][0]]
    assert labels[:2] == [
        f"Same principal: {original['userIdentity']['arn']}",
        f"Same source IP: {original['sourceIPAddress']}",
    ]
    assert "Everything ±15 min" in labels
    window = next(p["href"] for p in r.json()["pivots"][0] if p["label"] == "Everything ±15 min")
    around = client.get("/api" + window).json()
    t = original["eventTime"]
    assert around["total"] == len(
        in_range(demo_lake.events, back(t, minutes=15), back(t, minutes=-15))
    )
    missing = client.get("/api/event/no-such-event")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no event with ID 'no-such-event' in this lake"


def test_workbench_saved_query_with_parameters(client, lake, demo_lake):
    failed = [ev for ev in console_logins(demo_lake.events) if login_outcome(ev) == "Failure"]
    user = Counter(ev["userIdentity"].get("userName") for ev in failed).most_common(1)[0][0]
    body = {"q": "console-logins", "params": {"since": "2024-07-01", "user": user}}
    data = client.post("/api/query", json=body).json()
    expected = lake.run("console-logins", since="2024-07-01", user=user).to_pylist()
    assert data["rows"] == expected
    assert data["total_rows"] == len(expected) > 0
    # relative times count back from now, as on the command line
    from datetime import UTC, datetime

    data = client.post("/api/query", json={"q": "events-in-window", "params": {"since": "1h"}})
    since = datetime.fromisoformat(data.json()["params"]["since"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - since).total_seconds() - 3600) < 60
    assert data.json()["total_rows"] == 0


def test_workbench_display_limit_and_html(client, demo_lake):
    data = client.post("/api/query", json={"sql": "SELECT eventid FROM cloudtrail", "limit": 7})
    assert data.json()["total_rows"] == len(demo_lake.events)
    assert len(data.json()["rows"]) == 7
    html = client.post(
        "/workbench",
        data={"q": "failed-console-logins", "p_since": "2024-07-01", "limit": "5"},
    ).text
    assert 'id="rowcount"' in html and "SQL as run" in html


def test_workbench_csv_download_equals_the_python_api(client, lake):
    r = client.post(
        "/workbench/download",
        data={"q": "user-login-facts", "p_since": "2024-07-01", "format": "csv"},
    )
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="user-login-facts.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    expected = lake.run("user-login-facts", since="2024-07-01").to_pylist()
    assert len(rows) == len(expected) > 0
    assert [(r["user_name"], int(r["logins"])) for r in rows] == [
        (e["user_name"], e["logins"]) for e in expected
    ]
    j = client.post(
        "/workbench/download",
        data={"q": "user-login-facts", "p_since": "2024-07-01", "format": "json"},
    ).json()
    assert [x["user_name"] for x in j] == [e["user_name"] for e in expected]


def test_workbench_errors_name_line_and_column(client):
    r = client.post("/api/query", json={"sql": "SELECT eventname\nFROM cloudtrail\nWHERE (x = 1"})
    assert r.status_code == 400
    assert r.json() == {
        "error": "cannot parse the SQL: Expecting ) (line 3, column 12)",
        "hint": None,
        "line": 3,
        "column": 12,
    }
    html = client.post(
        "/workbench", data={"sql": "SELECT eventname\nFROM cloudtrail\nWHERE (x = 1"}
    )
    assert html.status_code == 400
    assert "3 | WHERE (x = 1" in unescape(html.text)
    r = client.post("/api/query", json={"sql": "SELECT usernme FROM cloudtrail"})
    assert r.json()["error"].startswith('Binder Error: Referenced column "usernme" not found')
    assert r.json()["hint"] == "did you mean useridentity.username?"
    r = client.post("/api/query", json={"q": "console-logins", "params": {"since": "yesterday"}})
    assert r.json()["error"] == "cannot read time 'yesterday'"


def test_bad_filters_are_explained(client):
    r = client.get("/api/d/overview?range=banana")
    assert r.status_code == 400
    assert r.json()["error"] == "unknown time range 'banana'"
    r = client.get("/d/overview?range=custom&since=2024-07-17&until=2024-07-01")
    assert r.status_code == 400
    assert (
        "the range starts after it ends (2024-07-17T00:00:00Z &gt; 2024-07-01T23:59:59Z)" in r.text
    )
    assert client.get("/api/d/nope").json()["error"] == "no dashboard named 'nope'"


def test_lake_status_is_lake_info(client, lake, demo_lake):
    data = client.get("/api/status").json()
    info = lake.info().to_json()
    assert data["info"]["events"] == info["events"] == len(demo_lake.events)
    assert data["info"]["accounts"] == info["accounts"]
    assert sum(d["rows"] for d in data["days"]) == len(demo_lake.events)
    assert "Lake status" in client.get("/status").text


def test_json_twins_are_linked_from_pages(client):
    html = client.get("/d/errors?range=24h").text
    assert 'href="/d/errors.json?range=24h"' in html

    # the lake's whole span: a relative range read twice may straddle a minute; the panels'
    # timings differ between a page computed and one remembered
    def untimed(answer: dict) -> dict:
        return {**answer, "panels": [{**p, "ms": None} for p in answer["panels"]]}

    assert untimed(client.get("/d/errors.json?range=all").json()) == untimed(
        client.get("/api/d/errors?range=all").json()
    )
    assert client.get("/api/dashboards").json()[0]["name"] == "overview"
    assert {q["name"] for q in client.get("/api/queries").json()} >= {"console-logins"}
