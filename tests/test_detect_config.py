"""Tuning rules without editing them: the detections config, from the file to the findings.

A lake of a few events, each made to be found by one rule, and configs that turn rules off,
change their severity and thresholds, and except events by account, principal, address,
user agent or condition (with reasons and expiry dates). Bad configs are refused with the
exact message a user sees.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope.cli import EXIT_ERROR, EXIT_OK, app
from trailscope.detect import DetectError, load_rules, run_detections
from trailscope.detect.config import apply_config, parse_config
from trailscope.facade import Lake

runner = CliRunner()
ACCOUNT = "111122223333"


def _event(i: int, name: str, **fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "eventVersion": "1.09",
        "eventTime": f"2024-07-10T10:{i:02d}:00Z",
        "eventID": f"tuned-{i:03d}",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "userName": "alice",
            "accountId": ACCOUNT,
        },
        "eventType": "AwsApiCall",
    }
    event.update(fields)
    return event


EVENTS = [
    # access-key-created-for-another-user (medium), by alice from her address
    _event(1, "CreateAccessKey", requestParameters={"userName": "bob"}),
    # the same by the deploy role, from a private address, with Terraform
    _event(
        2,
        "CreateAccessKey",
        requestParameters={"userName": "carol"},
        sourceIPAddress="10.1.2.3",
        userAgent="APN/1.0 HashiCorp/1.0 Terraform/1.8.5",
        userIdentity={
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-pipeline/run-42",
            "accountId": ACCOUNT,
        },
    ),
    # root-console-login (high)
    _event(
        3,
        "ConsoleLogin",
        eventSource="signin.amazonaws.com",
        userIdentity={"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
        responseElements={"ConsoleLogin": "Success"},
    ),
] + [
    # failed-console-logins-from-one-ip needs 10 within 10 minutes: here 6
    _event(
        10 + i,
        "ConsoleLogin",
        eventSource="signin.amazonaws.com",
        sourceIPAddress="203.0.113.9",
        responseElements={"ConsoleLogin": "Failure"},
    )
    for i in range(6)
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("tuned")
    (root / "trail").mkdir()
    (root / "trail" / "events.json").write_text(json.dumps({"Records": EVENTS}))
    lk = Lake(root / "lake")
    lk.ingest(str(root / "trail"), workers=1)
    return lk


RULES = [
    "access-key-created-for-another-user",
    "root-console-login",
    "failed-console-logins-from-one-ip",
]


def _found(lake: Lake, config: str | None) -> dict[str, list[str]]:
    parsed = parse_config(config) if config is not None else None
    report = run_detections(lake, rule_ids=RULES, config=parsed)
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f"{f.rule_id}:{f.severity.label}", []).extend(f.event_ids)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("config", "found"),
    [
        (
            None,
            {
                "access-key-created-for-another-user:medium": ["tuned-001", "tuned-002"],
                "root-console-login:high": ["tuned-003"],
            },
        ),
        (
            "rules:\n  root-console-login: {enabled: false}\n",
            {"access-key-created-for-another-user:medium": ["tuned-001", "tuned-002"]},
        ),
        (
            "rules:\n  access-key-created-for-another-user: {severity: critical}\n"
            "  failed-console-logins-from-one-ip: {params: {threshold: 5}}\n",
            {
                "access-key-created-for-another-user:critical": ["tuned-001", "tuned-002"],
                "root-console-login:high": ["tuned-003"],
                "failed-console-logins-from-one-ip:high": [f"tuned-{10 + i:03d}" for i in range(6)],
            },
        ),
        (  # by principal pattern, with a reason
            "rules:\n  access-key-created-for-another-user:\n    exceptions:\n"
            "      - {reason: key rotation, principal: 'arn:aws:sts::*:assumed-role/deploy-*'}\n",
            {
                "access-key-created-for-another-user:medium": ["tuned-001"],
                "root-console-login:high": ["tuned-003"],
            },
        ),
        (  # by network and by user agent, for every rule
            "exceptions:\n  - {reason: office network, source_ip: 198.51.100.0/24}\n"
            "  - {reason: pipelines, user_agent: '*Terraform*'}\n",
            {},
        ),
        (  # by account, and by any condition
            "rules:\n  root-console-login:\n    exceptions:\n"
            f"      - {{reason: sandbox, account: ['{ACCOUNT}']}}\n"
            "  access-key-created-for-another-user:\n    exceptions:\n"
            "      - reason: bob's keys\n"
            "        where: \"json_extract_scalar(requestparameters, '$.userName') = 'bob'\"\n",
            {"access-key-created-for-another-user:medium": ["tuned-002"]},
        ),
        (  # an expired exception no longer applies
            "rules:\n  root-console-login:\n    exceptions:\n"
            "      - {reason: migration, account: '111122223333', expires: 2020-01-31}\n",
            {
                "access-key-created-for-another-user:medium": ["tuned-001", "tuned-002"],
                "root-console-login:high": ["tuned-003"],
            },
        ),
        (  # a pattern of rule ids
            "rules:\n  'root-*': {enabled: false}\n  'access-key-*': {enabled: false}\n",
            {},
        ),
    ],
)
def test_tuning_changes_what_is_found(lake: Lake, config: str | None, found: dict) -> None:
    assert _found(lake, config) == found


def test_burst_counts_only_events_left_after_the_exceptions(lake: Lake) -> None:
    config = (
        "rules:\n  failed-console-logins-from-one-ip:\n    params: {threshold: 5}\n"
        "    exceptions:\n      - {reason: one of them, where: \"eventid = 'tuned-010'\"}\n"
    )
    assert "failed-console-logins-from-one-ip:high" in _found(lake, config)
    config = config.replace("eventid = 'tuned-010'", "eventid IN ('tuned-010', 'tuned-011')")
    assert "failed-console-logins-from-one-ip:high" not in _found(lake, config)


def test_the_lake_config_is_read_by_every_run(lake: Lake, tmp_path: Path) -> None:
    path = Path(lake.root) / "detections.yml"
    path.write_text("rules:\n  root-console-login: {severity: low}\n")
    try:
        report = run_detections(lake, rule_ids=["root-console-login"])
        assert [f.severity.label for f in report.findings] == ["low"]
        other = tmp_path / "other.yml"
        other.write_text("rules:\n  root-console-login: {severity: critical}\n")
        report = run_detections(lake, rule_ids=["root-console-login"], config=other)
        assert [f.severity.label for f in report.findings] == ["critical"]
    finally:
        path.unlink()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [a]\n", "cfg: 'rules' must map rule ids to their tuning"),
        ("rulez: {}\n", "cfg: unknown key 'rulez'"),
        ("rules:\n  x: {enable: false}\n", "cfg: rules.x: unknown key 'enable'"),
        (
            "rules:\n  x: {enabled: maybe}\n",
            "cfg: rules.x.enabled: must be true or false, not 'maybe'",
        ),
        ("rules:\n  x: {severity: urgent}\n", "unknown severity 'urgent'"),
        (
            "exceptions:\n  - {account: '1'}\n",
            "cfg: exceptions[0]: every exception needs a 'reason'",
        ),
        (
            "exceptions:\n  - {reason: r}\n",
            "cfg: exceptions[0]: the exception names nothing to except",
        ),
        (
            "exceptions:\n  - {reason: r, source_ip: 10.0.0.0/33}\n",
            "cfg: exceptions[0].source_ip: '10.0.0.0/33' is not an address or network",
        ),
        (
            "exceptions:\n  - {reason: r, account: '1', expires: soon}\n",
            "cfg: exceptions[0].expires: 'soon' is not a date (YYYY-MM-DD)",
        ),
        ("rules: {x: [}\n", None),
    ],
)
def test_bad_configs_say_what_is_wrong(text: str, message: str | None) -> None:
    with pytest.raises(DetectError) as err:
        parse_config(text, source="cfg")
    if message is None:
        assert err.value.message.startswith("cfg: not valid YAML: ")
    else:
        assert err.value.message == message


def test_a_bad_parameter_or_condition_is_refused_by_rule() -> None:
    rules = load_rules().rules
    config = parse_config(
        "rules:\n  failed-console-logins-from-one-ip: {params: {threshold: many}}\n"
    )
    with pytest.raises(DetectError) as err:
        apply_config(rules, config)
    assert err.value.message == (
        "parameter threshold of rule 'failed-console-logins-from-one-ip' must be a int, not 'many'"
    )
    with pytest.raises(DetectError) as err:
        parse_config("exceptions:\n  - {reason: r, where: 'eventname = ('}\n", source="cfg")
    assert err.value.message.startswith("cfg: exceptions[0].where: not a SQL condition: ")


def test_unknown_rule_names_and_expired_exceptions_are_warned_about() -> None:
    config = parse_config(
        "rules:\n  no-such-rule: {enabled: false}\n  root-console-login:\n    exceptions:\n"
        "      - {reason: old, account: '1', expires: 2020-01-01}\n",
        source="cfg",
    )
    tuned = apply_config(load_rules().rules, config, today=date(2024, 1, 1))
    assert tuned.warnings == [
        "an exception of root-console-login expired on 2020-01-01: old",
        "cfg: no rule matches 'no-such-rule'",
    ]


def test_cli_lists_the_tuning_and_writes_an_attack_layer(lake: Lake, tmp_path: Path) -> None:
    config = tmp_path / "tuning.yml"
    config.write_text(
        "rules:\n  unusual-region: {enabled: false}\n"
        "  root-console-login: {severity: critical}\n"
        "  failed-console-logins-from-one-ip: {params: {threshold: 20}}\n"
    )
    layer = tmp_path / "layer.json"
    result = runner.invoke(
        app,
        [
            "detect",
            "--list",
            "--format",
            "json",
            "--config",
            str(config),
            "--attack-layer",
            str(layer),
        ],
    )
    assert result.exit_code == EXIT_OK, result.output
    listed = {r["id"]: r for r in json.loads(result.stdout)["rules"]}
    assert listed["unusual-region"]["enabled"] is False
    assert listed["root-console-login"]["severity"] == "critical"
    assert listed["root-console-login"]["tuning"] == {"severity": "high -> critical"}
    assert listed["failed-console-logins-from-one-ip"]["tuning"] == {"params": {"threshold": 20}}
    assert listed["failed-console-logins-from-one-ip"]["lookback_minutes"] == 10
    data = json.loads(layer.read_text())
    assert data["versions"]["attack"] == "18" and data["domain"] == "enterprise-attack"
    cells = {(t["techniqueID"], t["tactic"]): t for t in data["techniques"]}
    assert "root-console-login" in cells[("T1078.004", "initial-access")]["comment"]
    assert not any("unusual-region" in t["comment"] for t in data["techniques"])  # disabled


def test_cli_run_with_a_config_and_a_bad_one(lake: Lake, tmp_path: Path) -> None:
    config = tmp_path / "tuning.yml"
    config.write_text("rules:\n  root-console-login: {severity: low}\n")
    result = runner.invoke(
        app, ["detect", "--lake", str(lake.root), "--config", str(config), "--format", "json"]
    )
    assert result.exit_code == EXIT_OK, result.output
    severities = {f["rule_id"]: f["severity"] for f in json.loads(result.stdout)}
    assert severities["root-console-login"] == "low"
    config.write_text("rules:\n  root-console-login: {severity: urgent}\n")
    result = runner.invoke(app, ["detect", "--lake", str(lake.root), "--config", str(config)])
    assert result.exit_code == EXIT_ERROR
    assert "unknown severity 'urgent'" in result.output
