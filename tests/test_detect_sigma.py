"""Sigma rules (the SigmaHQ CloudTrail set): compiled or refused with a reason, and compiled
rules match exactly the events Sigma's own semantics say they match.

The reference is this test's own evaluator of the parsed Sigma detection (pySigma parses the
YAML; the matching is written here, in Python, over the raw JSON events), so the SQL the
backend writes is checked against an independent reading of the rule, on real events.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from trailscope.detect import load_rules, run_detections
from trailscope.detect.sigma import sql_for_field
from trailscope.facade import Lake

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
SIGMA = SAMPLES / "sigma"
EVENT_FILES = [
    *sorted((SAMPLES / "events" / "stratus-red-team-detonation-logs").glob("*.json")),
    SAMPLES / "events" / "panther-analysis" / "rule_test_events.ndjson",
]

#: every SigmaHQ file that cannot run, with the category of the reason: only the rule that
#: needs a GeoIP field CloudTrail does not have
EXPECTED_UNSUPPORTED = {
    "aws_cloudtrail_console_login_success_from_susp_locations.yml": "field",
}
#: the files of SigmaHQ's unsupported/ folder: what each becomes (kind, threshold, minutes)
EXPECTED_WINDOWS = {
    "aws_ec2_download_userdata": ("event_count", 11, 30),
    "aws_enum_backup": ("event_count", 6, 10),
    "aws_enum_listing": ("event_count", 51, 10),
    "aws_enum_network": ("event_count", 6, 10),
    "aws_enum_storage": ("event_count", 6, 10),
    "aws_lambda_function_created_or_invoked": ("temporal", None, 60),
    "aws_macic_evasion": ("event_count", 6, 10),
    "aws_ses_messaging_enabled": ("temporal", None, 5),
}


def test_every_sigma_file_is_compiled_or_reported() -> None:
    files = sorted(SIGMA.rglob("*.yml"))
    ruleset = load_rules([SIGMA], include_builtin=False)
    compiled = {Path(r.path).name for r in ruleset.rules}
    refused = {Path(p).name: reason for p, reason in ruleset.unsupported}
    assert len(compiled) + len(refused) == len(files) == 66  # nothing dropped in silence
    assert {name: r.split(":")[0] for name, r in refused.items()} == EXPECTED_UNSUPPORTED
    # the goal: every rule without an aggregation or correlation compiles
    top_level = {p.name for p in SIGMA.glob("*.yml")}
    assert top_level <= compiled
    windows = {
        r.id: (
            r.window.kind,
            next((p.default for p in r.params if p.name == "threshold"), None),
            next(p.default for p in r.params if p.name == "window_minutes"),
        )
        for r in ruleset.rules
        if r.window is not None
    }
    assert windows == EXPECTED_WINDOWS
    macie = next(r for r in ruleset.rules if r.id == "aws_macic_evasion")
    assert macie.window.group_names == ("sourceIPAddress",)
    assert refused["aws_cloudtrail_console_login_success_from_susp_locations.yml"] == (
        "field: 'src_country' is not a CloudTrail field of the lake"
    )
    rule = next(r for r in ruleset.rules if r.id == "aws_cloudtrail_disable_logging")
    assert rule.severity.label == "medium" and rule.origin == "sigma"
    assert rule.mitre and rule.title == "AWS CloudTrail Important Change"


@pytest.mark.parametrize(
    ("field", "sql"),
    [
        ("eventName", "eventname"),
        (
            "userIdentity.sessionContext.sessionIssuer.type",
            "useridentity.sessioncontext.sessionissuer.type",
        ),
        ("requestParameters", "requestparameters"),
        (
            "responseElements.ConsoleLogin",
            "coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin'), "
            "json_format(json_extract(responseelements, '$.ConsoleLogin')))",
        ),
        ("status", "CASE WHEN errorcode IS NULL THEN 'success' ELSE 'failure' END"),
    ],
)
def test_field_mapping(field: str, sql: str) -> None:
    assert sql_for_field(field) == sql


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("src_ip", "field: 'src_ip' is not a CloudTrail field of the lake"),
        ("userIdentity", "field: 'userIdentity' is a structure, not a value"),
        ("resources.ARN", "field: 'resources.ARN' is inside a list or map"),
        ("eventName.x", "field: 'eventName.x': 'eventName' has no sub-fields"),
    ],
)
def test_unmappable_fields_say_why(field: str, reason: str) -> None:
    with pytest.raises(Exception) as err:
        sql_for_field(field)
    assert str(err.value) == reason


# --------------------------------------------------------------------------- reference


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in EVENT_FILES:
        text = path.read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        out.extend(json.loads(text) if path.suffix == ".json" else map(json.loads, lines))
    return [e for e in out if isinstance(e, dict)]


def _lookup(event: dict[str, Any], field: str) -> Any:
    if field == "status":
        return "success" if event.get("errorCode") is None else "failure"
    value: Any = event
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _pattern(value: SigmaString) -> str:
    parts = []
    for p in value.s:
        if p is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        else:
            parts.append(re.escape(str(p)))
    return "".join(parts)


def _matches(cond: Any, event: dict[str, Any]) -> bool:
    if isinstance(cond, ConditionAND):
        return all(_matches(a, event) for a in cond.args)
    if isinstance(cond, ConditionOR):
        return any(_matches(a, event) for a in cond.args)
    if isinstance(cond, ConditionNOT):
        return not _matches(cond.args[0], event)
    assert isinstance(cond, ConditionFieldEqualsValueExpression), cond
    raw = _lookup(event, cond.field)
    value = cond.value
    if isinstance(value, SigmaNull):
        return raw is None
    if isinstance(value, SigmaExists):
        return (raw is not None) == value.exists
    text = _text(raw)
    if text is None:
        return False
    if isinstance(value, SigmaFieldReference):
        other = _text(_lookup(event, value.field))
        return other is not None and text.lower() == other.lower()
    if isinstance(value, SigmaRegularExpression):
        return re.search(str(value.regexp), text) is not None
    if isinstance(value, SigmaCIDRExpression):
        try:
            return ipaddress.ip_address(text) in value.network
        except ValueError:
            return False
    if isinstance(value, SigmaBool | SigmaNumber):
        return text.lower() == str(value).lower()
    if isinstance(value, SigmaCasedString):
        return re.fullmatch(_pattern(value), text, re.DOTALL) is not None
    assert isinstance(value, SigmaString), value
    return re.fullmatch(_pattern(value), text, re.DOTALL | re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("sigma-samples")
    events = _events()
    (root / "trail").mkdir()
    (root / "trail" / "events.json").write_text(json.dumps({"Records": events}))
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    return lake, events


@pytest.mark.slow
def test_compiled_rules_match_what_sigma_semantics_say(sample_lake) -> None:
    lake, events = sample_lake
    in_lake = {r["eventid"] for r in lake.query("SELECT eventid FROM cloudtrail").to_pylist()}
    # keys are matched case-insensitively (Athena-style lowercase exports), as ingest does
    kept = [e for e in events if _lookup(e, "eventID") in in_lake - {None}]
    report = run_detections(lake, rule_dirs=[SIGMA], include_builtin=False)
    assert report.rules_run == 65  # the 57 filters and the 8 windowed rules
    found: dict[str, set[str]] = {}
    for f in report.findings:
        found.setdefault(f.rule_id, set()).update(f.event_ids)
    matched_rules = 0
    for path in sorted(SIGMA.glob("*.yml")):
        rule = SigmaCollection.from_yaml(path.read_text()).rules[0]
        tree = rule.detection.parsed_condition[0].parsed
        expected = {_lookup(e, "eventID") for e in kept if _matches(tree, e)}
        assert found.get(path.stem.lower(), set()) == expected, path.name
        matched_rules += bool(expected)
    assert matched_rules >= 20  # the comparison is not vacuous


@pytest.mark.slow
def test_one_scan_for_all_filter_rules_finds_what_one_query_per_rule_finds(sample_lake) -> None:
    """DuckDB runs the plain filter rules together (one scan); Athena and Spark run each alone."""
    from trailscope.detect.batch import batchable

    lake, _ = sample_lake
    together = run_detections(lake, rule_dirs=[SIGMA])
    alone = run_detections(lake, rule_dirs=[SIGMA], batch=False)
    assert sum(batchable(r) for r in load_rules([SIGMA]).rules) >= 70
    assert [f.to_json() for f in together.findings] == [f.to_json() for f in alone.findings]
    assert together.rules_run == alone.rules_run == len(load_rules([SIGMA]).rules)
    assert len(together.findings) > 100


@pytest.mark.slow
def test_two_queries_at_a_time_give_the_report_of_one_after_the_other(
    sample_lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's queries go to two threads on DuckDB; the report must not show it: the same
    findings, timings of the same rules in the same order, the same failures."""
    from trailscope.detect import parallel

    lake, _ = sample_lake
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "broken.yml").write_text(
        "id: broken-on-purpose\ntitle: Broken\nseverity: low\n"
        "where: no_such_function(eventname) = 1\n"
    )
    reports = {}
    for workers in (1, 2):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        reports[workers] = run_detections(lake, rule_dirs=[SIGMA, broken])
    one, two = reports[1], reports[2]
    assert [f.to_json() for f in two.findings] == [f.to_json() for f in one.findings]
    assert [t.rule_id for t in two.timings] == [t.rule_id for t in one.timings]
    assert two.unsupported == one.unsupported
    assert any(path.endswith("broken.yml") for path, _ in two.unsupported)
    assert two.rules_run == one.rules_run > 100
    assert len(two.findings) > 100
