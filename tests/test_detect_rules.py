"""The built-in detections as data: each rule's own examples, run on a real lake.

Every built-in rule file carries ``tests:`` (events that must match, events that must not);
here each rule's examples are written as a trail file, ingested with ``Lake.ingest`` into a
scratch lake and the rule is run through ``run_detections`` on DuckDB. The expectation is the
example's own list of event ids, so a rule that stops matching (or starts matching too much)
fails here by name. Also: every rule, built-in or compiled from Sigma, is valid Trino SQL that
sqlglot can carry to Spark, and malformed rule files are refused with the exact message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlglot
from enrich_fixtures import write_ranges
from sqlglot import exp

from trailscope.detect import DetectError, Severity, load_rules, run_detections
from trailscope.detect.examples import examples
from trailscope.detect.loader import BUILTIN_DIR, parse_rule_file
from trailscope.detect.model import FINDING_COLUMNS
from trailscope.engines.spark_sql import to_spark
from trailscope.enrich.iptable import enrich_lake
from trailscope.facade import Lake

SIGMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "samples" / "sigma"
BUILTIN = load_rules().rules
MITRE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


def _lake_of(tmp: Path, events: list[dict]) -> Lake:
    src = tmp / "trail"
    src.mkdir()
    (src / "events.json").write_text(json.dumps({"Records": events}))
    lake = Lake(tmp / "lake")
    summary = lake.ingest(str(src), workers=1)
    assert summary.events_added == len(events)  # examples must be valid CloudTrail events
    # places from the bundled country list, AWS's ranges from a small ip-ranges.json
    enrich_lake(lake, aws_ip_ranges=write_ranges(tmp / "ip-ranges.json"))
    return lake


@pytest.mark.parametrize("rule", BUILTIN, ids=lambda r: r.id)
def test_builtin_rule_examples(rule, tmp_path: Path) -> None:
    cases = examples(rule)
    assert any(c.expect_match for c in cases), f"{rule.id} has no example that must match"
    assert any(not c.expect_match for c in cases), f"{rule.id} has no example that must not"
    lake = _lake_of(tmp_path, [e for c in cases for e in c.events])
    report = run_detections(lake, rule_ids=[rule.id])
    assert report.unsupported == []
    assert report.rules_run == 1
    reported = {i for f in report.findings for i in f.event_ids}
    for case in cases:
        ids = set(case.event_ids)
        if case.expect_match:
            assert ids <= reported, f"{rule.id} example {case.index + 1}: {sorted(ids - reported)}"
            want = case.severity or rule.severity.label
            got = {f.severity.label for f in report.findings if ids & set(f.event_ids)}
            assert got == {want}, f"{rule.id} example {case.index + 1}: {got}"
        else:
            assert not ids & reported, f"{rule.id} example {case.index + 1}: {ids & reported}"
    for f in report.findings:
        assert f.rule_id == rule.id and f.mitre == rule.mitre
        assert f.severity == rule.severity or f.severity == rule.on_failure
        assert f.event_count >= len(f.event_ids) > 0
        assert f.first_seen <= f.last_seen


def test_builtin_rules_are_complete_data() -> None:
    ids = [r.id for r in BUILTIN]
    assert len(ids) == len(set(ids)) == len(list(BUILTIN_DIR.glob("*.yml")))
    for rule in BUILTIN:
        assert rule.path.stem == rule.id
        assert rule.title and rule.description, rule.id
        assert rule.mitre and all(MITRE_ID.match(m) for m in rule.mitre), rule.id
        assert rule.origin == "builtin"
    # the detections the documentation promises
    for required in (
        "root-console-login",
        "console-login-without-mfa",
        "failed-console-logins-from-one-ip",
        "failed-console-logins-for-one-user",
        "security-group-opened-to-world",
        "cloudtrail-logging-disrupted",
        "guardduty-or-config-disabled",
        "access-key-created-for-another-user",
        "login-profile-for-another-user",
        "snapshot-or-image-shared",
        "unusual-region",
        "iam-admin-policy-on-user",
        "iam-admin-policy-on-role",
    ):
        assert required in ids


def _all_rules() -> list:
    sigma = load_rules([SIGMA_DIR], include_builtin=False).rules
    return BUILTIN + sigma


@pytest.mark.parametrize("rule", _all_rules(), ids=lambda r: f"{r.origin}:{r.id}")
def test_rule_is_trino_sql_and_transpiles_to_spark(rule) -> None:
    """What the Athena and Spark engines get: parsed as Trino, written as Spark."""
    tree = sqlglot.parse_one(rule.sql, read="trino")
    assert isinstance(tree, exp.Select | exp.Union)
    names = [s.alias_or_name for s in tree.selects]
    assert names[: len(FINDING_COLUMNS)] == list(FINDING_COLUMNS)
    placeholders = {p.name for p in tree.find_all(exp.Placeholder)}
    assert {"since", "until"} <= placeholders
    # a rule with a baseline also reads from :lookback_since (the runner's since less its look-back)
    assert placeholders - {"since", "until", "lookback_since"} == {p.name for p in rule.params}
    spark = to_spark(rule.sql).sql  # what the Spark engine runs
    back = sqlglot.parse_one(spark, read="spark")
    # the events, and the enrichment side tables a rule may join
    tables = {t.name for t in back.find_all(exp.Table)} - {"ip_info", "accounts"}
    assert tables == {"cloudtrail"} | {c.alias for c in tree.find_all(exp.CTE)}


def test_rule_parameters_can_be_overridden(tmp_path: Path) -> None:
    rule = next(r for r in BUILTIN if r.id == "failed-console-logins-from-one-ip")
    burst = [e for c in examples(rule) if c.expect_match for e in c.events]  # 10 in 4.5 min
    lake = _lake_of(tmp_path, burst)
    run = lambda **p: run_detections(lake, rule_ids=[rule.id], params={rule.id: p}).findings  # noqa: E731
    assert len(run()) == 1
    assert run(threshold="11") == []
    assert run(threshold=10, window_minutes=4) == []  # 10 failures span 270 s
    assert len(run(threshold=10, window_minutes=5)) == 1
    with pytest.raises(DetectError) as err:
        run(treshold=5)
    assert err.value.message == (
        "rule 'failed-console-logins-from-one-ip' has no parameter 'treshold'"
    )
    with pytest.raises(DetectError) as err:
        run(threshold="many")
    assert err.value.message == (
        "parameter threshold of rule 'failed-console-logins-from-one-ip' must be a int, not 'many'"
    )


def test_time_range_limits_findings(tmp_path: Path) -> None:
    rule = next(r for r in BUILTIN if r.id == "root-console-login")
    events = [e for c in examples(rule) for e in c.events]  # match on day 0, no_match on day 1
    lake = _lake_of(tmp_path, events)
    day0 = events[0]["eventTime"][:10]
    assert run_detections(lake, rule_ids=[rule.id], since=day0, until=day0).findings
    later = run_detections(lake, rule_ids=[rule.id], since=events[-1]["eventTime"])
    assert later.findings == [] and later.since == events[-1]["eventTime"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\nseverity: high\nwhere: 'true'\n", None),
        ("id: x\nseverity: high\nwhere: 'true'\n", "{path}: missing 'title'"),
        ("id: x\ntitle: t\nseverity: urgent\nwhere: 'true'\n", "unknown severity 'urgent'"),
        (
            "id: x\ntitle: t\nseverity: low\nwhere: 'true'\nsql: SELECT 1\n",
            "{path}: give exactly one of 'where' (a filter), 'window' (a count or "
            "correlation) or 'sql' (a query)",
        ),
        ("id: X Y\ntitle: t\nseverity: low\nwhere: 'true'\n", None),
        (
            "id: x\ntitle: t\nseverity: low\nwhere: 'true'\n"
            "params:\n  n: {type: list, default: 1}\n",
            "{path}: parameter 'n' has type 'list', not one of ('int', 'float', 'string')",
        ),
    ],
)
def test_malformed_rule_files(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "x.yml"
    path.write_text(text)
    if "X Y" in text:
        message = f"{path}: rule id 'X Y' must be lowercase letters, digits, '-_.'"
    if message is None:
        rule = parse_rule_file(path, origin="user")
        assert rule.id == "x" and rule.severity is Severity.HIGH
        return
    with pytest.raises(DetectError) as err:
        parse_rule_file(path, origin="user")
    assert err.value.message == message.format(path=path)


def test_user_rule_folder_mixes_own_and_sigma_rules(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text(
        "id: console-login-without-mfa\ntitle: Mine\nseverity: critical\nmitre: [T1078]\n"
        "where: eventname = 'ConsoleLogin'\n"
    )
    (tmp_path / "broken.yml").write_text("title: [unclosed\n")
    (tmp_path / "notes.yaml").write_text("just: a mapping\n")
    (tmp_path / "windows.yml").write_text(
        "title: w\nlogsource: {product: windows, category: process_creation}\n"
        "detection: {sel: {Image|endswith: '\\\\cmd.exe'}, condition: sel}\n"
    )
    ruleset = load_rules([tmp_path])
    by_id = ruleset.by_id()
    assert by_id["console-login-without-mfa"].severity is Severity.CRITICAL  # replaces built-in
    assert by_id["console-login-without-mfa"].origin == "user"
    assert len(ruleset.rules) == len(BUILTIN)
    reasons = {Path(p).name: r for p, r in ruleset.unsupported}
    assert reasons["broken.yml"].startswith("not valid YAML: while parsing a flow sequence")
    assert reasons["notes.yaml"] == (
        "neither a trailscope rule (sql/where/window) nor a Sigma rule (detection)"
    )
    assert (
        reasons["windows.yml"] == "logsource: the rule is not for product aws, service cloudtrail"
    )
    with pytest.raises(DetectError) as err:
        load_rules([tmp_path / "missing"])
    assert err.value.message == f"no rules folder at {tmp_path / 'missing'}"
