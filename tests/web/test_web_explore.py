"""Explore: the classic views of the CloudTrail guides, each one URL, against the same numbers
computed in plain Python from the trail's raw events; and every mark's drill-down, "(other)"
included, leads to exactly the events it counted."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlencode

import pytest
from web_expect import principal, search_text

from trailscope.web.explore import CLASSICS


def when(ev) -> datetime:
    moment = datetime.fromisoformat(ev["eventTime"].replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def classic(client, name: str, **extra: str) -> dict:
    _, settings, filters = CLASSICS[name]
    items = [("range", "all"), *settings.items(), *filters, *extra.items()]
    r = client.get("/explore.json?" + urlencode(items))
    assert r.status_code == 200, r.text
    return r.json()


def ranked(counter: Counter, n: int) -> list:
    return [k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]]


def test_quicksight_ips_by_identity_type(client, demo_lake):
    data = classic(client, "quicksight-ips-by-identity-type")
    events = demo_lake.events
    by_ip = Counter(ev.get("sourceIPAddress") or "(none)" for ev in events)
    top_ips = ranked(by_ip, 15)
    # the split's top 6 types are ranked over every event, as the view's SQL ranks them
    all_types = Counter((ev.get("userIdentity") or {}).get("type") or "(none)" for ev in events)
    top_types = set(ranked(all_types, 6))
    expected = Counter()
    for ev in events:
        ip = ev.get("sourceIPAddress") or "(none)"
        if ip in top_ips:
            kind = (ev.get("userIdentity") or {}).get("type") or "(none)"
            expected[(ip, kind if kind in top_types else "(other)")] += 1
    shown = Counter({(r["x"], r["y"]): r["n"] for r in data["rows"]})
    assert shown == expected
    assert {r["x"] for r in data["rows"]} == set(top_ips)


def test_kibana_console_operations_pie(client, demo_lake):
    data = classic(client, "kibana-console-operations")
    names = Counter(
        ev["eventName"] for ev in demo_lake.events if ev.get("userAgent") == "console.amazonaws.com"
    )
    assert sum(names.values()) == 2  # the AWS docs' console events planted in the trail
    assert {r["x"]: r["n"] for r in data["rows"]} == dict(names)


@pytest.mark.parametrize(("tz", "hours"), [("UTC", 0), ("Asia/Tokyo", 9)])
def test_looker_general_operations_heat_map(client, demo_lake, tz, hours):
    data = classic(client, "looker-general-operations-heatmap", tz=tz)
    from datetime import timedelta

    expected = Counter()
    for ev in demo_lake.events:
        local = when(ev) + timedelta(hours=hours)  # Tokyo keeps no daylight saving time
        expected[(local.hour, local.isoweekday())] += 1
    shown = Counter({(int(r["x"]), int(r["y"])): r["n"] for r in data["rows"]})
    assert shown == expected
    assert data["filters"]["tz"] == tz


def test_looker_ec2_instance_changes(client, demo_lake):
    data = classic(client, "looker-ec2-instance-changes")
    wanted = ("StopInstance", "StartInstance", "RunInstance", "TerminateInstance")
    expected = Counter()
    for ev in demo_lake.events:
        if any(w in ev["eventName"] for w in wanted):
            day = int(datetime(*when(ev).timetuple()[:3], tzinfo=UTC).timestamp())
            expected[(day, ev["eventName"])] += 1
    shown = Counter({(int(r["x"]), r["y"]): r["n"] for r in data["rows"]})
    assert shown == expected and expected


def test_explore_metrics_and_validation(client, demo_lake):
    q = {"range": "all", "dim": "useridentity.type", "metric": "distinct:sourceipaddress"}
    data = client.get("/explore.json", params=q).json()
    ips: dict[str, set] = {}
    for ev in demo_lake.events:
        kind = (ev.get("userIdentity") or {}).get("type") or "(none)"
        if ev.get("sourceIPAddress"):
            ips.setdefault(kind, set()).add(ev["sourceIPAddress"])
    assert {r["x"]: r["n"] for r in data["rows"]} == {
        k: len(v) for k, v in ips.items() if k in {r["x"] for r in data["rows"]}
    }
    # a JSON path as the dimension
    q = {"range": "all", "dim": "requestparameters.bucketName", "top": "5"}
    rows = client.get("/explore.json", params=q).json()["rows"]
    buckets = Counter(
        (ev.get("requestParameters") or {}).get("bucketName") or "(none)" for ev in demo_lake.events
    )
    assert [(r["x"], r["n"]) for r in rows] == [(k, buckets[k]) for k in ranked(buckets, 5)]
    # what cannot be drawn or read is explained, never run
    for params, message in [
        ({"dim": "nosuchfield"}, "unknown field 'nosuchfield'"),
        ({"dim": "useridentity"}, "useridentity is not a single value"),
        ({"dim": "requestparameters.a'b"}, 'cannot use "a\'b" in a JSON path'),
        ({"dim": "eventname", "chart": "line"}, "a line chart runs over time"),
        ({"dim": "eventname", "chart": "heatmap"}, "a heat map needs a split: its rows"),
        ({"dim": "eventname", "metric": "median:x"}, "unknown metric 'median:x'"),
        ({"dim": "eventname", "top": "0"}, "top must be between 1 and 200"),
        ({"dim": "eventname", "chart": "radar"}, "unknown chart 'radar'"),
    ]:
        r = client.get("/explore.json", params={"range": "all", **params})
        assert r.status_code == 400, params
        assert r.json()["error"] == message


def test_every_mark_of_a_view_drills_to_exactly_its_events(client, demo_lake):
    """Pie slices, "(other)" included, and split bars: the events page counts what they say."""
    q = {"range": "all", "dim": "eventsource", "chart": "pie", "top": "4"}
    html = client.get("/explore", params=q).text
    rows = client.get("/explore.json", params=q).json()["rows"]
    shown = {r["x"]: r["n"] for r in rows}
    assert "(other)" in shown
    table = html[html.index('class="data slices"') :]
    links = re.findall(r'<a href="(/events\?[^"]+)">([^<]+)</a>', table)
    assert len(links) == len(shown)
    for href, label in links:
        total = client.get("/api" + unescape(href)).json()["total"]
        assert total == shown[unescape(label)], label
    # a split bar segment: one source IP and one identity type
    q = {"range": "all", "dim": "sourceipaddress", "split": "useridentity.type", "top": "3"}
    html = client.get("/explore", params=q).text
    segment = unescape(re.search(r'<a href="(/events\?[^"]+is\.useridentity[^"]+)"', html)[1])
    drilled = client.get("/api" + segment).json()
    ip = re.search(r"is\.sourceipaddress=([^&]+)", segment)[1]
    kind = re.search(r"is\.useridentity\.type=([^&]+)", segment)[1]
    assert drilled["total"] == sum(
        1
        for ev in demo_lake.events
        if ev.get("sourceIPAddress") == ip and (ev.get("userIdentity") or {}).get("type") == kind
    )


def test_other_in_a_dashboard_time_chart_drills_to_the_rest_of_its_panel(client, demo_lake):
    """The errors over time panel stacks the 8 commonest codes; its "(other)" is every other
    error (and only errors), not every event of the range."""
    html = client.get("/d/errors?range=all").text
    chart = html[html.index('id="panel-over_time"') :]
    legend = chart[chart.index('class="legend"') :]
    other = re.search(r'<a href="([^"]+)" class="n" title="the events of \(other\)">', legend)
    assert other, "no (other) series in the errors chart"
    data = client.get("/api" + unescape(other[1])).json()
    errors = Counter(ev["errorCode"] for ev in demo_lake.events if ev.get("errorCode"))
    named = ranked(errors, 8)
    assert data["total"] == sum(n for code, n in errors.items() if code not in named) > 0


def test_explore_sql_opens_in_the_workbench_and_gives_the_same_rows(client):
    q = {"range": "all", "dim": "awsregion", "split": "readonly"}
    html = client.get("/explore", params=q).text
    rows = client.get("/explore.json", params=q).json()["rows"]
    link = unescape(re.search(r'<a href="(/workbench\?sql=[^"]+)" id="to-workbench"', html)[1])
    page = client.get(link).text
    from urllib.parse import parse_qs, urlsplit

    sql = parse_qs(urlsplit(link).query)["sql"][0]
    assert "SELECT" in sql and ":since" not in sql  # the filter bar's values written in
    assert (
        unescape(re.search(r'<textarea name="sql" id="sql"[^>]*>(.*?)</textarea>', page, re.S)[1])
        == sql
    )
    ran = client.post("/api/query", json={"sql": sql, "limit": 1000}).json()
    assert ran["rows"] == rows


def test_principal_filter_matches_inside_arns_any_case_and_says_what(client, demo_lake):
    arns = Counter(principal(ev) for ev in demo_lake.events if principal(ev))
    target = next(a for a in arns if a.startswith("arn:aws:iam::") and ":user/" in a)
    name = target.rsplit("/", 1)[1]
    part = name.upper()[1:-1]
    data = client.get("/api/events", params={"range": "all", "principal": part}).json()
    matching = [p for p in arns if part.lower() in p.lower()]
    assert data["total"] == sum(arns[p] for p in matching)
    assert data["filters"]["principal_match"] == "contains"
    assert data["principal_matched"]["count"] == len(matching)
    assert set(data["principal_matched"]["principals"]) <= set(matching)
    html = client.get("/events", params={"range": "all", "principal": part}).text
    assert f"principal contains “{part}” (any case): {len(matching)} principal" in unescape(html)
    # a full ARN matches exactly
    exact = client.get("/api/events", params={"range": "all", "principal": target}).json()
    assert exact["total"] == arns[target]
    assert exact["principal_matched"] is None


@pytest.mark.parametrize(
    ("q", "keep"),
    [
        ("ConsoleLogin", lambda t: "consolelogin" in t),
        ("consolelogin -Success", lambda t: "consolelogin" in t and "success" not in t),
        ('"AccessDenied" s3', lambda t: "accessdenied" in t and "s3" in t),
    ],
)
def test_free_text_search_over_every_field_with_exclusion(client, demo_lake, q, keep):
    expected = sum(1 for ev in demo_lake.events if keep(search_text(ev)))
    data = client.get("/api/events", params={"range": "all", "q": q}).json()
    assert data["total"] == expected > 0
