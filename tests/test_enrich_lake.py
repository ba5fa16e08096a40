"""Enrichment of a whole lake: ip_info from a synthetic trail with geography, the planted
foreign sign-in and impossible journey caught, refreshes that rewrite no event, the same
values on DuckDB and Spark."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from enrich_fixtures import write_city, write_ranges
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.detect import run_detections
from trailscope.enrich.countries import country, distance_km
from trailscope.enrich.iptable import enrich_lake
from trailscope.facade import Lake
from trailscope.synth import synth_trail
from trailscope.synth.geography import FAR_AWAY, FOREIGN, HOMES

runner = CliRunner()
GEO_RULES = ("console-login-from-new-country", "impossible-travel")
JOINED = """
    SELECT c.eventid, c.sourceipaddress, i.kind, i.country, i.country_name, i.asn, i.as_org,
           i.latitude, i.longitude, i.aws_service, i.aws_region
    FROM cloudtrail c LEFT JOIN ip_info i ON i.ip = c.sourceipaddress
    ORDER BY c.eventid"""


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Any]:
    root = tmp_path_factory.mktemp("geo")
    report = synth_trail(root / "trail", events=6000, seed=11, days=3, geography=True)
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    enrich_lake(lake)
    return lake, report


def test_every_source_address_is_described(geo) -> None:
    lake, _ = geo
    rows = lake.query(JOINED).to_pylist()
    assert rows and all(r["kind"] is not None for r in rows if r["sourceipaddress"])
    by_ip = {r["sourceipaddress"]: r for r in rows}
    for code, addresses in HOMES.values():
        for address in addresses:
            if address in by_ip:
                assert (by_ip[address]["kind"], by_ip[address]["country"]) == ("public", code)
    assert by_ip[FOREIGN[0]]["country"] == FOREIGN[1]
    assert by_ip[FOREIGN[0]]["country_name"] == "Russia"
    kinds = {r["kind"] for r in rows}
    assert {"public", "private", "reserved", "aws-service"} <= kinds
    for r in rows:
        ip = r["sourceipaddress"] or ""
        if ip.endswith(".amazonaws.com"):
            assert r["kind"] == "aws-service" and r["aws_service"] == ip
        if ip.startswith("10."):
            assert r["kind"] == "private" and r["country"] is None
        if ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:")):
            assert r["kind"] == "reserved"


def test_planted_geography_incidents_are_found(geo) -> None:
    lake, report = geo
    planted = {i.rule_id: i for i in report.incidents if i.rule_id in GEO_RULES}
    assert set(planted) == set(GEO_RULES)
    found = run_detections(lake, rule_ids=list(GEO_RULES)).findings
    for rule_id, incident in planted.items():
        ids = {e for f in found if f.rule_id == rule_id for e in f.event_ids}
        assert set(incident.event_ids) <= ids, rule_id
    travel = [f for f in found if f.rule_id == "impossible-travel"]
    assert len(travel) == 1  # people at home never travel impossibly
    us, sg = country("US"), country(FAR_AWAY[1])
    assert us and sg and us.latitude is not None and sg.latitude is not None
    km = round(distance_km(us.latitude, us.longitude or 0, sg.latitude, sg.longitude or 0))
    assert travel[0].detail and travel[0].detail.startswith(f"{km} km in ")
    new = {(f.principal.split("/")[-1], f.source_ip) for f in found if f.rule_id == GEO_RULES[0]}
    # carol abroad, and bob's second sign-in of the impossible journey: nobody at home
    assert new == {("carol", FOREIGN[0]), ("bob", FAR_AWAY[0])}


def test_without_geography_the_new_rules_stay_quiet(tmp_path: Path) -> None:
    synth_trail(tmp_path / "trail", events=4000, seed=3, days=2)
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "trail"), workers=1)
    report = enrich_lake(lake)
    assert report.with_country == 0  # documentation addresses only: no place
    rules = [*GEO_RULES, "instance-credentials-used-outside-aws"]
    assert run_detections(lake, rule_ids=rules).findings == []


def test_a_lake_never_enriched_joins_an_empty_table(tmp_path: Path) -> None:
    synth_trail(tmp_path / "trail", events=1000, seed=3, days=1, incidents=False)
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "trail"), workers=1)
    assert lake.read_table("ip_info") is None
    assert {r["kind"] for r in lake.query(JOINED).to_pylist()} == {None}
    assert lake.query("SELECT count(*) AS n FROM accounts").to_pylist() == [{"n": 0}]


def test_refresh_with_a_database_rewrites_no_event(geo, tmp_path: Path) -> None:
    lake, _ = geo
    parts = sorted(lake.part_paths())
    before = {r["sourceipaddress"]: r for r in lake.query(JOINED).to_pylist()}
    city = write_city(tmp_path / "City.mmdb")  # places 81.2.69.0/24 exactly
    result = runner.invoke(
        app,
        [
            "lake",
            "enrich",
            "--lake",
            str(lake.root),
            "--geoip",
            str(city),
            "--aws-ip-ranges",
            str(write_ranges(tmp_path / "ip-ranges.json")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "enriched " in result.output and "City.mmdb" in result.output
    assert sorted(lake.part_paths()) == parts
    after = {r["sourceipaddress"]: r for r in lake.query(JOINED).to_pylist()}
    carol = HOMES["carol"][1][0]  # planted: her sign-ins from home
    assert (after[carol]["latitude"], after[carol]["longitude"]) == (52.5196, 13.4069)
    assert (before[carol]["latitude"], before[carol]["longitude"]) == (51.0, 9.0)  # Germany's
    assert after[carol]["country"] == before[carol]["country"] == "DE"
    assert lake.query("SELECT count(DISTINCT aws_ranges) AS n FROM ip_info").to_pylist() == [
        {"n": 1}
    ]


def test_cli_missing_database_is_one_line_and_keeps_the_table(geo, tmp_path: Path) -> None:
    lake, _ = geo
    before = lake.read_table("ip_info")
    missing = tmp_path / "GeoLite2-City.mmdb"
    result = runner.invoke(
        app, ["lake", "enrich", "--lake", str(lake.root), "--geoip", str(missing)]
    )
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == f"error: {missing}: no such database file"
    assert lake.read_table("ip_info") == before


def test_lookup_command() -> None:
    result = runner.invoke(app, ["enrich", "lookup", "80.133.40.12", "10.0.0.1", "--json"])
    assert result.exit_code == 0, result.output
    assert '"country": "DE"' in result.output and '"kind": "private"' in result.output


@pytest.mark.slow
def test_same_values_on_duckdb_and_spark(geo) -> None:
    from trailscope.engines.spark import SparkEngine, get_session

    lake, _ = geo
    session = get_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "1g",
        },
    )
    engine = SparkEngine.for_lake(lake, session=session)
    try:
        spark_rows = engine.query(JOINED).to_pylist()
    finally:
        engine.close()
    duck_rows = lake.query(JOINED).to_pylist()
    assert len(spark_rows) == len(duck_rows) == lake.info().events
    for s, d in zip(spark_rows, duck_rows, strict=True):
        for key, value in d.items():
            other = s[key]
            if isinstance(value, float):
                assert math.isclose(value, other), (d["eventid"], key)
            else:
                assert value == other, (d["eventid"], key)
