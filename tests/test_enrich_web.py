"""The Geography dashboard, the world view and the saved queries over an enriched lake,
checked against country codes asked of the bundled list directly, event by event."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import iptocc
import pytest
from fastapi.testclient import TestClient

from trailscope.enrich.iptable import enrich_lake
from trailscope.enrich.worldmap import world_map
from trailscope.facade import Lake
from trailscope.synth import synth_trail
from trailscope.web.app import create_app


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("geo-web")
    synth_trail(root / "trail", events=5000, seed=21, days=2, geography=True)
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    enrich_lake(lake)
    events: dict[str, dict[str, Any]] = {}
    for path in sorted((root / "trail").rglob("*.json.gz")):
        if {"CloudTrail", "CloudTrail-Insight"} & set(path.parts):  # not digests
            for e in json.loads(gzip.decompress(path.read_bytes())).get("Records", []):
                events[e["eventID"]] = e  # re-delivered copies are the same event
    return lake, list(events.values())


def _country(address: str | None) -> str | None:
    if not address or not re.match(r"^[0-9a-fA-F.:]+$", address):
        return None
    if address.startswith(("10.", "192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:")):
        return None
    return iptocc.country_code(address) or None


def _logins_by_country(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        c
        for e in events
        if e.get("eventName") == "ConsoleLogin"
        and (c := _country(e.get("sourceIPAddress"))) is not None
    )


def test_world_panel_counts_match_the_reference(geo) -> None:
    lake, events = geo
    client = TestClient(create_app(lake.root))
    data = client.get("/d/geography.json?range=all").json()
    panels = {p["id"]: p for p in data["panels"]}
    assert all("error" not in p for p in panels.values()), panels
    got = {r["label"]: r["n"] for r in panels["world"]["rows"]}
    assert got == dict(_logins_by_country(events))
    assert {"US", "DE", "RU", "SG"} <= set(got)


def test_world_view_is_drawn(geo) -> None:
    lake, events = geo
    page = TestClient(create_app(lake.root)).get("/d/geography?range=all")
    assert page.status_code == 200
    de = _logins_by_country(events)["DE"]
    assert f"<title>Germany (DE): {de:,}</title>" in page.text
    assert "<title>France (FR): none</title>" in page.text
    assert page.text.count('data-chart="map"') == 1
    assert "http" not in re.search(r'<svg viewBox="0 0 360 170".*?</svg>', page.text, re.S).group(0)


def test_world_map_shades_and_escapes() -> None:
    m = world_map([{"label": "de", "n": 10}, {"label": "JP", "n": 1}, {"label": "<x>", "n": 3}])
    areas = {a.code: a for a in m.areas}
    assert areas["DE"].fill != areas["JP"].fill != areas["FR"].fill
    assert areas["FR"].n == 0 and areas["DE"].n == 10
    assert [r["country"] for r in m.rows] == ["DE", "<X>", "JP"]  # kept, escaped by the template
    assert {d.title.split(" (")[0] for d in m.dots} == {"Germany", "Japan"}


def test_sign_ins_by_country_query(geo) -> None:
    lake, events = geo
    rows = lake.run("sign-ins-by-country", since="2024-01-01").to_pylist()
    got = Counter({r["country"]: r["sign_ins"] for r in rows if r["country"]})
    assert got == _logins_by_country(events)
    assert sum(r["sign_ins"] for r in rows) == sum(
        1 for e in events if e.get("eventName") == "ConsoleLogin"
    )


def test_activity_by_network_kind_filter(geo) -> None:
    lake, events = geo
    rows = lake.run("activity-by-network", since="2024-01-01", kind="public").to_pylist()
    got = Counter()
    for r in rows:
        got[r["country"]] += r["calls"]
    want = Counter(c for e in events if (c := _country(e.get("sourceIPAddress"))))
    assert got == want


def test_new_sign_in_countries_query(geo) -> None:
    lake, _ = geo
    last_day = lake.info().last_day
    rows = lake.run("new-sign-in-countries", since=last_day).to_pylist()
    assert ("RU", "95.24.100.7") in {(r["country"], r["first_address"]) for r in rows}
    carol = next(r for r in rows if r["country"] == "RU")
    assert carol["user_name"].endswith(":user/carol") and carol["sign_ins_before"] >= 1


def test_account_names_query(geo, tmp_path: Path) -> None:
    lake, events = geo
    accounts = sorted({e["recipientAccountId"] for e in events})
    f = tmp_path / "a.yml"
    f.write_text(
        f"'{accounts[0]}': prod-main\n'{accounts[1]}': {{name: dev-x, tags: {{env: dev}}}}\n"
    )
    from typer.testing import CliRunner

    from trailscope.cli import app

    result = CliRunner().invoke(app, ["enrich", "accounts", "-f", str(f), "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    rows = lake.run(
        "activity-by-account-name", since="2024-01-01", account_name="prod-*"
    ).to_pylist()
    assert [(r["account"], r["account_name"]) for r in rows] == [(accounts[0], "prod-main")]
    assert rows[0]["calls"] == sum(1 for e in events if e["recipientAccountId"] == accounts[0])
    every = lake.run("activity-by-account-name", since="2024-01-01").to_pylist()
    assert {r["account"]: r["tags"] for r in every}[accounts[1]] == "env=dev"


def test_world_view_drills_down_to_its_events(geo) -> None:
    lake, events = geo
    client = TestClient(create_app(lake.root))
    page = client.get("/d/geography?range=all").text
    links = dict(
        (m.group(2), m.group(1).replace("&amp;", "&"))
        for m in re.finditer(r'<a href="(/events\?[^"]*is\.country=([A-Z]{2}))"', page)
    )
    want = _logins_by_country(events)
    assert set(links) == set(want)
    for code, href in links.items():
        rows = client.get(href.replace("/events?", "/events.json?")).json()["rows"]
        assert len(rows) == want[code], code
        assert {r["eventname"] for r in rows} == {"ConsoleLogin"}


def test_explore_groups_by_country_and_account_name(geo) -> None:
    lake, events = geo
    client = TestClient(create_app(lake.root))
    rows = client.get("/explore.json?range=all&dim=country&top=50").json()["rows"]
    got = {r["x"]: r["n"] for r in rows if r["x"] != "(none)"}
    assert got == dict(Counter(c for e in events if (c := _country(e.get("sourceIPAddress")))))
    kinds = client.get("/explore.json?range=all&dim=address_kind").json()["rows"]
    assert {r["x"] for r in kinds} >= {"public", "private", "reserved", "aws-service"}
