"""Test events nobody here wrote, as lakes the detections run on.

* panther-analysis's CloudTrail rule tests (one event per test, the expected result per test in
  the index file, the rule's severity, threshold and ATT&CK tags in
  ``fixtures/panther_rules.tsv``): each test event gets its own ``eventID``
  (``panther-NNNN``, the index line) and its own month, so no two tests make a burst or a
  sequence together and each is judged alone;
* Stratus Red Team's detonation logs (one file per technique).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trailscope.facade import Lake

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
EVENTS = SAMPLES / "events"
PANTHER = EVENTS / "panther-analysis"
STRATUS = EVENTS / "stratus-red-team-detonation-logs"
FIXTURES = Path(__file__).parent / "fixtures"
_START = datetime(2000, 1, 1, tzinfo=UTC)
#: days between two tests' events: longer than any rule's look-back
SPACING_DAYS = 30


@dataclass(frozen=True)
class PantherTest:
    line: int
    rule_id: str
    name: str
    expected: bool
    severity: str  # Panther's: Info, Low, Medium, High, Critical
    threshold: int
    tactics: tuple[str, ...]  # TA ids from the rule's ATT&CK tags
    event: dict[str, Any]

    @property
    def event_id(self) -> str:
        return f"panther-{self.line:04d}"


def panther_tests() -> list[PantherTest]:
    meta = {}
    with (FIXTURES / "panther_rules.tsv").open() as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        for row in rows:
            meta[row["rule_id"]] = row
    index = [json.loads(x) for x in (PANTHER / "rule_test_events_index.ndjson").open()]
    events = [json.loads(x) for x in (PANTHER / "rule_test_events.ndjson").open()]
    out = []
    for entry, event in zip(index, events, strict=True):
        m = meta[entry["rule_id"]]
        tactics = tuple(sorted({t.split(":")[0] for t in m["mitre"].split() if ":" in t}))
        out.append(
            PantherTest(
                line=entry["line"],
                rule_id=entry["rule_id"],
                name=entry["test_name"],
                expected=bool(entry["expected_result"]),
                severity=m["severity"],
                threshold=int(m["threshold"]),
                tactics=tactics,
                event=event,
            )
        )
    return out


def panther_lake(root: Path, tests: list[PantherTest]) -> tuple[Lake, set[str]]:
    """The tests' events in a lake, and the ids of those the lake took (some tests are not
    whole CloudTrail events and are refused by ingest)."""
    records = []
    for i, test in enumerate(tests):
        # some tests write Athena-style lowercase keys: replace the id and time in any case
        event = {k: v for k, v in test.event.items() if k.lower() not in ("eventid", "eventtime")}
        event["eventID"] = test.event_id
        event["eventTime"] = (_START + timedelta(days=SPACING_DAYS * i)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        records.append(event)
    trail = root / "panther-trail"
    trail.mkdir(parents=True, exist_ok=True)
    (trail / "events.json").write_text(json.dumps({"Records": records}))
    lake = Lake(root / "panther-lake")
    lake.ingest(str(trail), workers=1)
    kept = {r["eventid"] for r in lake.query("SELECT eventid FROM cloudtrail").to_pylist()}
    return lake, kept


def stratus_lake(root: Path, extra: Path | None = None) -> Lake:
    """Stratus Red Team's detonation logs (and ``extra``, a folder of more trail files)."""
    lake = Lake(root / "stratus-lake")
    lake.ingest(str(STRATUS), workers=1)
    if extra is not None:
        lake.ingest(str(extra), workers=1)
    return lake
