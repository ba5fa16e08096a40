"""Acceptance: real attack logs and planted incidents are caught; benign activity is not high.

* Stratus Red Team's 44 AWS techniques: the 35 detonation logs (real detonations) and the 9
  techniques without one, written from their documented API calls (``stratus_events``), are
  ingested into one lake; the table below says which built-in detections fire on each
  technique's events. A technique whose detections change (or stop) fails here by name.
* ``trailscope synth`` plants five incidents and reports their event ids; each must be caught
  by its named detection, and nothing else in the trail (the benign part) may be high.
* Public sample events that are not attacks nor detection test cases (AWS user-guide examples,
  AWS's parser fixtures, Elastic's pipeline fixtures) raise no high finding, except the two
  documentation examples of exactly the actions high rules exist for.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import stratus_events

from trailscope.detect import Severity, run_detections
from trailscope.facade import Lake
from trailscope.synth import synth_trail

EVENTS = Path(__file__).resolve().parents[2] / "shared" / "samples" / "events"
STRATUS = EVENTS / "stratus-red-team-detonation-logs"

#: Stratus Red Team's 44 AWS techniques -> the built-in detections that fire on their events:
#: 35 real detonation logs, and 9 detonations written from the techniques' documented calls
#: (tests/stratus_events.py). A technique whose detections change (or stop) fails by name.
STRATUS_EXPECTED: dict[str, set[str]] = {
    "aws.credential-access.ec2-get-password-data": {
        "authorization-failures-burst",
        "ec2-password-data-requested",
    },
    "aws.credential-access.ec2-steal-instance-credentials": {
        "instance-credentials-used-elsewhere",
        "ssm-command-sent",
    },
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": {"secrets-batch-retrieved"},
    "aws.credential-access.secretsmanager-retrieve-secrets": {"secrets-read-burst"},
    "aws.credential-access.ssm-retrieve-securestring-parameters": {
        "ssm-parameters-decrypted-in-bulk"
    },
    "aws.defense-evasion.cloudtrail-delete": {"cloudtrail-logging-disrupted"},
    "aws.defense-evasion.cloudtrail-event-selectors": {"cloudtrail-trail-narrowed"},
    "aws.defense-evasion.cloudtrail-lifecycle-rule": {"s3-lifecycle-short-expiration"},
    "aws.defense-evasion.cloudtrail-stop": {"cloudtrail-logging-disrupted"},
    "aws.defense-evasion.dns-delete-logs": {"network-logs-deleted"},
    "aws.defense-evasion.organizations-leave": {"account-left-organization"},
    "aws.defense-evasion.vpc-remove-flow-logs": {"network-logs-deleted"},
    "aws.discovery.ec2-download-user-data": {
        "authorization-failures-burst",
        "instance-user-data-read",
        "instance-user-data-read-burst",
    },
    "aws.discovery.ec2-enumerate-from-instance": {
        "iam-everything-listed",
        "instance-credentials-used-from-internet",
        "instance-role-enumeration",
    },
    "aws.discovery.ses-enumerate": {"ses-enumerated", "ses-enumeration"},
    "aws.execution.ec2-launch-unusual-instances": {"unusual-instance-type-launched"},
    "aws.execution.ec2-user-data": {"ec2-user-data-modified"},
    "aws.execution.sagemaker-update-lifecycle-config": {"remote-execution-backdoor"},
    "aws.execution.ssm-send-command": {"ssm-command-sent"},
    "aws.execution.ssm-start-session": {"ssm-session-started"},
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": {"security-group-opened-to-world"},
    "aws.exfiltration.ec2-share-ami": {"snapshot-or-image-shared"},
    "aws.exfiltration.ec2-share-ebs-snapshot": {"snapshot-or-image-shared"},
    "aws.exfiltration.rds-share-snapshot": {"snapshot-or-image-shared"},
    "aws.exfiltration.s3-backdoor-bucket-policy": {"s3-bucket-exposed"},
    "aws.impact.bedrock-invoke-model": {"bedrock-model-access-enabled"},
    "aws.impact.ec2-deregister-ami": {"ec2-ami-deregistered"},
    "aws.impact.s3-ransomware-batch-deletion": {"s3-bucket-emptied-after-listing"},
    "aws.impact.s3-ransomware-client-side-encryption": {
        "s3-mass-encryption-with-customer-key",
        "s3-objects-encrypted-with-customer-key",
    },
    "aws.impact.s3-ransomware-individual-deletion": {"s3-object-versions-deleted-in-bulk"},
    "aws.initial-access.console-login-without-mfa": {
        "console-login-as-iam-user",
        "console-login-without-mfa",
    },
    "aws.lateral-movement.ec2-instance-connect": {"ec2-instance-connect-key-sent"},
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": {"ec2-serial-console-access"},
    "aws.persistence.iam-backdoor-role": {"role-trusts-external-account"},
    "aws.persistence.iam-backdoor-user": {"access-key-created-for-another-user"},
    "aws.persistence.iam-create-admin-user": {
        "access-key-created-for-another-user",
        "iam-administrator-access-attached",
        "iam-user-created",
    },
    "aws.persistence.iam-create-backdoor-role": {
        "iam-administrator-access-attached",
        "role-trusts-external-account",
    },
    "aws.persistence.iam-create-user-login-profile": {"login-profile-for-another-user"},
    "aws.persistence.lambda-backdoor-function": {"lambda-function-shared"},
    "aws.persistence.lambda-layer-extension": {"lambda-layer-attached"},
    "aws.persistence.lambda-overwrite-code": {"lambda-code-updated"},
    "aws.persistence.rolesanywhere-create-trust-anchor": {"roles-anywhere-trust-anchor-changed"},
    "aws.persistence.sts-federation-token": {"federation-token-with-full-access"},
    "aws.privilege-escalation.iam-update-user-login-profile": {"login-profile-for-another-user"},
}

#: planted incident (SynthReport.incidents[].name) -> the detection that must catch it
SYNTH_EXPECTED = {
    "root-console-login-without-mfa": "root-console-login",
    "console-login-brute-force": "failed-console-logins-from-one-ip",
    "security-group-ssh-open-to-world": "security-group-opened-to-world",
    "cloudtrail-stop-logging": "cloudtrail-logging-disrupted",
    "access-key-created-for-another-user": "access-key-created-for-another-user",
}

#: sources of sample events that are neither attack simulations nor detection test cases
BENIGN_SOURCES = (
    "awsdocs-athena-user-guide",
    "awsdocs-cloudtrail-user-guide",
    "awsdocs-iam-user-guide",
    "awsdocs-lambda-developer-guide",
    "awsdocs-s3-developer-guide",
    "aws-cloudtrail-processing-library",
    "elastic-integrations-aws-cloudtrail",
    "elastic-beats-filebeat-aws-cloudtrail",
)
#: the CloudTrail guide documents these events as examples of exactly what high rules flag
#: (its UpdateTrail example changes nothing that narrows logging, so it is no longer here)
BENIGN_EXPECTED_HIGH = {
    (
        "root-console-login",
        "cloudtrail-event-reference-aws-console-sign-in-events__07.json",
        "ConsoleLogin",
    ),
    (
        "root-credentials-changed",
        "cloudtrail-event-reference-aws-console-sign-in-events__10.json",
        "PasswordUpdated",
    ),
}


def _sources(lake: Lake) -> dict[str, tuple[str, str]]:
    rows = lake.query("SELECT eventid, sourcekey, eventname FROM cloudtrail").to_pylist()
    return {r["eventid"]: (r["sourcekey"], r["eventname"]) for r in rows}


@pytest.mark.slow
def test_every_stratus_technique_is_caught_by_the_expected_detections(tmp_path: Path) -> None:
    real = {f.stem for f in STRATUS.glob("*.json")}
    assert len(real) == 35 and not real & set(stratus_events.TECHNIQUES)
    assert real | set(stratus_events.TECHNIQUES) == set(STRATUS_EXPECTED)  # all 44, each once
    assert len(STRATUS_EXPECTED) == 44
    stratus_events.write_trail(tmp_path / "documented")
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(STRATUS), workers=1)
    lake.ingest(str(tmp_path / "documented"), workers=1)
    source = _sources(lake)
    report = run_detections(lake)
    assert report.unsupported == []
    fired: dict[str, set[str]] = defaultdict(set)
    for finding in report.findings:
        for event_id in finding.event_ids:
            fired[Path(source[event_id][0]).stem].add(finding.rule_id)
    assert dict(fired) == STRATUS_EXPECTED


@pytest.fixture(scope="module")
def synth_lake(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synth-detect")
    # a week: what a weekly review reads at once, and a daily job in seven runs
    report = synth_trail(root / "trail", events=20_000, seed=5, days=7, digests=False)
    lake = Lake(root / "lake")
    lake.ingest(str(root / "trail"), workers=1)
    return report, lake, run_detections(lake)


def test_planted_incidents_are_caught_by_their_detection(synth_lake) -> None:
    report, _, detections = synth_lake
    assert {i.name for i in report.incidents} == set(SYNTH_EXPECTED)
    for incident in report.incidents:
        rule_id = SYNTH_EXPECTED[incident.name]
        caught = {i for f in detections.findings if f.rule_id == rule_id for i in f.event_ids}
        assert set(incident.event_ids) <= caught, incident.name


def test_brute_force_finding_is_exactly_the_planted_burst(synth_lake) -> None:
    report, _, detections = synth_lake
    planted = next(i for i in report.incidents if i.name == "console-login-brute-force")
    [finding] = [f for f in detections.findings if f.rule_id == "failed-console-logins-from-one-ip"]
    assert sorted(finding.event_ids) == sorted(planted.event_ids)
    assert finding.event_count == 24 and finding.source_ip == "203.0.113.201"


def test_benign_part_of_a_synth_trail_raises_nothing_high(synth_lake) -> None:
    report, lake, detections = synth_lake
    planted = {i for incident in report.incidents for i in incident.event_ids}
    assert lake.query("SELECT count(*) AS n FROM cloudtrail").column("n")[0].as_py() > 19_000
    for finding in detections.at_or_above(Severity.HIGH):
        assert set(finding.event_ids) <= planted, (finding.rule_id, finding.principal)


def _accounts_and_days(lake: Lake) -> tuple[int, list[str]]:
    rows = lake.query(
        "SELECT count(DISTINCT recipientaccountid) AS n,"
        " array_agg(DISTINCT substr(eventtime, 1, 10)) AS days FROM cloudtrail"
    ).to_pylist()[0]
    return rows["n"], sorted(rows["days"])


def test_synth_trail_gets_at_most_three_findings_per_account_and_day(synth_lake) -> None:
    """All findings, planted incidents included, over the whole trail at once."""
    _, lake, detections = synth_lake
    accounts, days = _accounts_and_days(lake)
    assert accounts == 3 and len(days) == 7
    assert len(detections.findings) <= 3 * accounts * len(days), len(detections.findings)


@pytest.mark.slow
def test_synth_trail_run_day_by_day_gets_at_most_three_findings_per_account_and_day(
    synth_lake,
) -> None:
    """A daily job splits a principal's week of activity into seven findings: still few."""
    _, lake, _ = synth_lake
    accounts, days = _accounts_and_days(lake)
    total = sum(len(run_detections(lake, since=day, until=day).findings) for day in days)
    assert total <= 3 * accounts * len(days), total


@pytest.mark.slow
def test_benign_sample_events_raise_no_high_finding(tmp_path: Path) -> None:
    trail = tmp_path / "samples"
    for name in BENIGN_SOURCES:
        shutil.copytree(EVENTS / name, trail / name)
    lake = Lake(tmp_path / "lake")
    assert lake.ingest(str(trail), workers=1).events_added > 40
    source = _sources(lake)
    report = run_detections(lake)
    high = {
        (f.rule_id, Path(source[i][0]).name, source[i][1])
        for f in report.at_or_above(Severity.HIGH)
        for i in f.event_ids
    }
    assert high == BENIGN_EXPECTED_HIGH
