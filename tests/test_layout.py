"""classify_key: what a key alone says about an object."""

from __future__ import annotations

from datetime import date

import pytest

from trailscope.sources.layout import KeyInfo, Level, ObjectKind, classify_key, locate

LOG, DIGEST, INSIGHT, OTHER = (
    ObjectKind.LOG,
    ObjectKind.DIGEST,
    ObjectKind.INSIGHT,
    ObjectKind.OTHER,
)
ACCT = "111122223333"
ORG = "o-abcdefghij"
DAY = date(2024, 6, 2)
LOG_NAME = f"{ACCT}_CloudTrail_us-east-1_20240602T2355Z_AbCdEf0123456789.json.gz"

CASES: list[tuple[str, KeyInfo]] = [
    # standard account trail
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/{LOG_NAME}",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    # organization trail
    (
        f"AWSLogs/{ORG}/{ACCT}/CloudTrail/eu-west-1/2024/06/02/{LOG_NAME}",
        KeyInfo(LOG, ACCT, "eu-west-1", DAY, ORG),
    ),
    # org id at its longest
    (
        f"AWSLogs/o-{'a1' * 16}/{ACCT}/CloudTrail/us-east-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY, f"o-{'a1' * 16}"),
    ),
    # plain .json is a log too
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/events.json",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    # GovCloud and newer region names
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-gov-west-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-gov-west-1", DAY),
    ),
    (
        f"AWSLogs/{ACCT}/CloudTrail/ap-southeast-7/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "ap-southeast-7", DAY),
    ),
    # digests and insight events
    (
        f"AWSLogs/{ACCT}/CloudTrail-Digest/us-east-1/2024/06/02/"
        f"{ACCT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240602T010203Z.json.gz",
        KeyInfo(DIGEST, ACCT, "us-east-1", DAY),
    ),
    (
        f"AWSLogs/{ORG}/{ACCT}/CloudTrail-Digest/us-east-1/2024/06/02/d.json.gz",
        KeyInfo(DIGEST, ACCT, "us-east-1", DAY, ORG),
    ),
    (
        f"AWSLogs/{ACCT}/CloudTrail-Insight/us-east-1/2024/06/02/i.json.gz",
        KeyInfo(INSIGHT, ACCT, "us-east-1", DAY),
    ),
    # AWS Config's probe file, wherever it sits
    (f"AWSLogs/{ACCT}/CloudTrail/ConfigWritabilityCheckFile", KeyInfo(OTHER, ACCT)),
    (f"AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile", KeyInfo(OTHER, ACCT)),
    (f"AWSLogs/{ORG}/ConfigWritabilityCheckFile", KeyInfo(OTHER, org_id=ORG)),
    ("exports/ConfigWritabilityCheckFile", KeyInfo(OTHER)),
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/ConfigWritabilityCheckFile",
        KeyInfo(OTHER, ACCT, "us-east-1", DAY),
    ),
    # non-log names inside CloudTrail folders
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/notes.txt",
        KeyInfo(OTHER, ACCT, "us-east-1", DAY),
    ),
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/.x.json.gz",
        KeyInfo(OTHER, ACCT, "us-east-1", DAY),
    ),
    # other services' logs in the same bucket
    (
        f"AWSLogs/{ACCT}/elasticloadbalancing/us-east-1/2024/06/02/lb.log.gz",
        KeyInfo(OTHER, ACCT),
    ),
    (f"AWSLogs/{ACCT}/vpcflowlogs/us-east-1/2024/06/02/f.log.gz", KeyInfo(OTHER, ACCT)),
    (f"AWSLogs/{ACCT}/Config/us-east-1/2024/6/2/ConfigHistory/c.json.gz", KeyInfo(OTHER, ACCT)),
    # flat folders: anything not hidden is a candidate log, whatever the extension
    ("events.json.gz", KeyInfo(LOG)),
    ("export/2024/06/events.ndjson", KeyInfo(LOG)),
    ("some.log", KeyInfo(LOG)),
    ("README", KeyInfo(LOG)),
    (".DS_Store", KeyInfo(OTHER)),
    ("sub/.hidden.json", KeyInfo(OTHER)),
    ("/abs/path/events.json", KeyInfo(LOG)),
    # odd ones
    (f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/", KeyInfo(OTHER, ACCT, "us-east-1", DAY)),
    ("folder/", KeyInfo(OTHER)),
    ("AWSLogs/", KeyInfo(OTHER)),
    (f"AWSLogs/{ACCT}/CloudTrail/us-east-1/x.json.gz", KeyInfo(LOG, ACCT, "us-east-1")),
    (f"AWSLogs/{ACCT}/CloudTrail/x.json.gz", KeyInfo(LOG, ACCT)),
    (f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/13/02/x.json.gz", KeyInfo(LOG, ACCT, "us-east-1")),
    (f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/02/30/x.json.gz", KeyInfo(LOG, ACCT, "us-east-1")),
    (
        f"AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/late/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    (f"AWSLogs/{ACCT}/CloudTrail/not-a-region/x.json.gz", KeyInfo(OTHER, ACCT)),
    ("AWSLogs/12345/CloudTrail/us-east-1/2024/06/02/x.json.gz", KeyInfo(OTHER)),
    ("AWSLogs/README.txt", KeyInfo(OTHER)),
    # AWSLogs nested under a trail prefix, a Control Tower org folder, or an absolute path
    (
        f"my-trail/AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    (
        f"{ORG}/AWSLogs/{ORG}/{ACCT}/CloudTrail/us-east-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY, ORG),
    ),
    (
        f"/data/AWSLogs/backup/AWSLogs/{ACCT}/CloudTrail/us-east-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    (
        f"AWSLogs//{ACCT}/CloudTrail/us-east-1/2024/06/02/x.json.gz",
        KeyInfo(LOG, ACCT, "us-east-1", DAY),
    ),
    # "AWSLogs" as a file name or a partial segment means nothing
    ("backup/AWSLogs", KeyInfo(LOG)),
    ("AWSLogs-old/111122223333/x.json.gz", KeyInfo(LOG)),
]


@pytest.mark.parametrize(("key", "expected"), CASES, ids=[c[0] for c in CASES])
def test_classify_key(key: str, expected: KeyInfo) -> None:
    assert classify_key(key) == expected


def test_locate_tells_folders_apart() -> None:
    assert locate(["exports", "2024"]) is None
    assert locate(["AWSLogs"]).level is Level.AWSLOGS
    assert locate(["AWSLogs", ORG]).level is Level.ORG
    assert locate(["AWSLogs", ORG, ACCT, "CloudTrail", "us-east-1"]).level is Level.REGION
    assert locate(["AWSLogs", ACCT, "CloudTrail", "us-east-1", "2024", "06"]).day_span() == (
        date(2024, 6, 1),
        date(2024, 6, 30),
    )
    assert locate(["AWSLogs", ACCT, "elasticloadbalancing"]).level is Level.FOREIGN
    assert locate(["AWSLogs", ACCT, "CloudTrail", "us-east-1", "misc"]).level is Level.UNDATED
