"""IP enrichment against MaxMind-format databases the tests write with mmdb-writer."""

from __future__ import annotations

from pathlib import Path

import pytest
from enrich_fixtures import write_asn, write_city, write_ipinfo, write_ranges

from trailscope.enrich import EnrichError
from trailscope.enrich.iptable import SCHEMA, Enricher


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    return write_city(tmp_path / "City.mmdb"), write_asn(tmp_path / "ASN.mmdb")


def _row(enricher: Enricher, ip: str) -> dict:
    row = enricher.describe(ip)
    assert set(row) == set(SCHEMA.names)
    return row


def test_exact_countries_and_networks_ipv4_and_ipv6(dbs) -> None:
    e = Enricher.open(dbs, fallback=False)
    gb = _row(e, "81.2.69.160")
    assert (gb["kind"], gb["country"], gb["asn"], gb["as_org"]) == (
        "public",
        "GB",
        20712,
        "Andrews & Arnold Ltd",
    )
    assert (gb["latitude"], gb["longitude"]) == (51.5142, -0.0931)
    assert gb["country_name"] == "United Kingdom"
    assert gb["source"] == "City.mmdb+ASN.mmdb"
    jp = _row(e, "2001:218:1:2::3")
    assert (jp["kind"], jp["country"], jp["asn"], jp["as_org"]) == (
        "public",
        "JP",
        2914,
        "NTT America, Inc.",
    )
    cn = _row(e, "175.16.199.1")  # in the City database only: no network
    assert (cn["country"], cn["asn"], cn["as_org"]) == ("CN", None, None)
    ua = _row(e, "::ffff:81.2.69.1")  # IPv4-mapped IPv6 is the IPv4 address
    assert ua["country"] == "GB"


def test_ipinfo_layout(tmp_path: Path) -> None:
    e = Enricher.open([write_ipinfo(tmp_path / "country_asn.mmdb")], fallback=False)
    row = _row(e, "89.160.20.112")
    assert (row["country"], row["asn"], row["as_org"]) == ("SE", 29518, "Bredband2 AB")
    assert row["latitude"] is not None  # the country's point when no City database says


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.31.255.1", "private"),
        ("192.168.0.9", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("127.0.0.1", "reserved"),
        ("169.254.169.254", "reserved"),
        ("192.0.2.44", "reserved"),
        ("203.0.113.9", "reserved"),
        ("2001:db8::1", "reserved"),
        ("fe80::1", "reserved"),
        ("224.0.0.5", "reserved"),
        ("s3.amazonaws.com", "aws-service"),
        ("AWS Internal", "aws-service"),
        ("ec2.amazonaws.com.cn", "aws-service"),
        ("not-an-address", "unknown"),
        ("8.8.4.4", "unknown"),  # public but in no range of these databases: not an error
    ],
)
def test_kinds(dbs, value: str, kind: str) -> None:
    row = _row(Enricher.open(dbs, fallback=False), value)
    assert row["kind"] == kind
    if kind != "public":
        assert row["country"] is None and row["asn"] is None


def test_aws_ranges_most_specific_service(dbs, tmp_path: Path) -> None:
    e = Enricher.open(dbs, aws_ip_ranges=write_ranges(tmp_path / "ip-ranges.json"), fallback=False)
    ec2 = _row(e, "52.94.1.7")
    assert (ec2["kind"], ec2["aws_service"], ec2["aws_region"], ec2["asn"]) == (
        "aws-range",
        "EC2",
        "us-east-1",
        16509,
    )
    wide = _row(e, "52.94.200.1")  # only in the /16 named AMAZON
    assert (wide["kind"], wide["aws_service"]) == ("aws-range", "AMAZON")
    v6 = _row(e, "2600:1f18:4000::10")
    assert (v6["kind"], v6["aws_service"], v6["country"]) == ("aws-range", "EC2", None)
    assert _row(e, "3.5.143.255")["aws_region"] == "ap-northeast-2"
    assert _row(e, "3.5.144.0")["kind"] == "unknown"


def test_bundled_fallback_gives_countries_without_a_database() -> None:
    e = Enricher.open()
    # RIR delegations that have not moved in decades
    assert _row(e, "81.2.69.160")["country"] == "GB"
    assert _row(e, "133.1.1.1")["country"] == "JP"  # Osaka University
    row = _row(e, "2001:218:1:2::3")
    assert (row["kind"], row["country"], row["asn"], row["source"]) == (
        "public",
        "JP",
        None,
        "iptocc",
    )


def test_databases_come_before_the_fallback(dbs) -> None:
    assert _row(Enricher.open(dbs), "216.160.83.56")["source"] == "City.mmdb+ASN.mmdb"


def test_missing_database_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-City.mmdb"
    with pytest.raises(EnrichError) as e:
        Enricher.open([missing])
    assert e.value.message == f"{missing}: no such database file"


@pytest.mark.parametrize(
    "damage", [b"", b"not a database at all\n", "truncated"], ids=["empty", "text", "truncated"]
)
def test_damaged_database_is_one_line_naming_it(dbs, tmp_path: Path, damage) -> None:
    bad = tmp_path / "bad.mmdb"
    if damage == "truncated":
        data = dbs[0].read_bytes()
        bad.write_bytes(data[: len(data) // 3])
    else:
        bad.write_bytes(damage)
    with pytest.raises(EnrichError) as e:
        Enricher.open([bad]).describe("81.2.69.1")
    assert e.value.message.startswith(f"{bad}: not a readable MaxMind database (")
    assert "\n" not in e.value.message


def test_bad_ranges_file(tmp_path: Path) -> None:
    bad = tmp_path / "ip-ranges.json"
    bad.write_text('{"syncToken": "1"}')
    with pytest.raises(EnrichError) as e:
        Enricher.open(aws_ip_ranges=bad)
    assert e.value.message == f"{bad}: not AWS's ip-ranges.json (no 'prefixes' list)"
    with pytest.raises(EnrichError) as e:
        Enricher.open(aws_ip_ranges=tmp_path / "nope.json")
    assert e.value.message == f"{tmp_path / 'nope.json'}: no such file"
