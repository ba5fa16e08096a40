"""The Detections page: the same findings as the Python API, filtered by the filter bar, with
links down to each finding's events."""

from __future__ import annotations

import re
from html import unescape

import pytest

from trailscope.detect import run_detections


@pytest.mark.slow
def test_detections_page_shows_what_the_python_api_finds(client, lake):
    data = client.get("/api/detections?range=all").json()
    report = run_detections(lake, since=data["since"], until=data["until"])
    got = sorted((f["rule_id"], tuple(f["event_ids"])) for f in data["findings"])
    want = sorted((f.rule_id, tuple(f.event_ids)) for f in report.findings)
    assert got == want
    assert {f["rule_id"] for f in data["findings"]} >= {
        "root-console-login",
        "failed-console-logins-from-one-ip",
    }  # planted by synth
    severities = [f["severity"] for f in data["findings"]]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)  # most severe first
    assert sum(data["by_severity"].values()) == len(data["findings"])


@pytest.mark.slow
def test_filters_narrow_the_findings(client):
    every = client.get("/api/detections?range=all").json()["findings"]
    accounts = sorted({f["account"] for f in every if f["account"]})
    assert len(accounts) > 1
    one = client.get(f"/api/detections?range=all&account={accounts[0]}").json()["findings"]
    assert one == [f for f in every if f["account"] == accounts[0]]


@pytest.mark.slow
def test_each_finding_links_to_its_events(client):
    data = client.get("/api/detections?range=all").json()
    finding = next(f for f in data["findings"] if f["rule_id"] == "root-console-login")
    html = client.get("/detections?range=all")
    assert html.status_code == 200
    links = [unescape(h) for h in re.findall(r'class="ev" href="([^"]+)"', html.text)]
    target = next(h for h in links if finding["event_ids"][0] in h)
    shown = client.get("/api" + target).json()["events"][0]
    assert shown["eventID"] == finding["event_ids"][0]
    assert shown["eventName"] == "ConsoleLogin"
    assert shown["userIdentity"]["type"] == "Root"
