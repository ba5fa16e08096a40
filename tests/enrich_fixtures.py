"""MaxMind-format test databases written with mmdb-writer (not by trailscope's code), and an
ip-ranges.json in AWS's published shape, for the enrichment tests."""

from __future__ import annotations

import json
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

#: network -> (country, latitude, longitude) in the City test database
CITY = {
    "81.2.69.0/24": ("GB", 51.5142, -0.0931),
    "80.133.40.0/24": ("DE", 52.5196, 13.4069),
    "175.16.199.0/24": ("CN", 43.88, 125.3228),
    "216.160.83.0/24": ("US", 47.6109, -122.3303),
    "2001:218::/32": ("JP", 35.6897, 139.6895),
    "2a02:d300::/29": ("UA", 50.45, 30.5233),
}
#: network -> (asn, organisation) in the ASN test database
ASN = {
    "81.2.69.0/24": (20712, "Andrews & Arnold Ltd"),
    "216.160.83.0/24": (209, "CenturyLink"),
    "2001:218::/32": (2914, "NTT America, Inc."),
    "52.94.0.0/16": (16509, "AMAZON-02"),
}


def write_city(path: Path) -> Path:
    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="trailscope test City database",
    )
    for net, (code, lat, lon) in CITY.items():
        w.insert_network(
            IPSet([net]),
            {
                "country": {"iso_code": code, "names": {"en": code}},
                "location": {"latitude": lat, "longitude": lon},
            },
        )
    w.to_db_file(str(path))
    return path


def write_asn(path: Path) -> Path:
    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-ASN",
        languages=["en"],
        description="trailscope test ASN database",
    )
    for net, (asn, org) in ASN.items():
        w.insert_network(
            IPSet([net]),
            {"autonomous_system_number": asn, "autonomous_system_organization": org},
        )
    w.to_db_file(str(path))
    return path


def write_ipinfo(path: Path) -> Path:
    """IPinfo's country_asn layout: strings for the country and the AS."""
    w = MMDBWriter(
        ip_version=4,
        database_type="ipinfo country_asn.mmdb",
        languages=["en"],
        description="trailscope test IPinfo database",
    )
    w.insert_network(
        IPSet(["89.160.20.0/24"]),
        {"country": "SE", "country_name": "Sweden", "asn": "AS29518", "as_name": "Bredband2 AB"},
    )
    w.to_db_file(str(path))
    return path


def write_ranges(path: Path) -> Path:
    doc = {
        "syncToken": "1700000000",
        "createDate": "2024-07-01-00-00-00",
        "prefixes": [
            {
                "ip_prefix": "52.94.0.0/16",
                "region": "us-east-1",
                "service": "AMAZON",
                "network_border_group": "us-east-1",
            },
            {
                "ip_prefix": "52.94.0.0/22",
                "region": "us-east-1",
                "service": "AMAZON",
                "network_border_group": "us-east-1",
            },
            {
                "ip_prefix": "52.94.0.0/22",
                "region": "us-east-1",
                "service": "EC2",
                "network_border_group": "us-east-1",
            },
            {
                "ip_prefix": "3.5.140.0/22",
                "region": "ap-northeast-2",
                "service": "S3",
                "network_border_group": "ap-northeast-2",
            },
        ],
        "ipv6_prefixes": [
            {
                "ipv6_prefix": "2600:1f18::/33",
                "region": "us-east-1",
                "service": "EC2",
                "network_border_group": "us-east-1",
            },
        ],
    }
    path.write_text(json.dumps(doc))
    return path
