"""What deploy/ ships: a CloudFormation template that cfn-lint accepts (and that keeps the
promises docs/scale.md makes: least privilege, a dead-letter queue, a schedule), and the files
it names."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


def lint(path: Path) -> list[str]:
    from cfnlint.api import lint_file

    return [str(m) for m in lint_file(path)]


def template() -> dict[str, Any]:
    return yaml.load((DEPLOY / "template.yaml").read_text(), Loader=_CfnLoader)


def test_the_template_passes_cfn_lint() -> None:
    assert lint(DEPLOY / "template.yaml") == []


def test_cfn_lint_does_catch_a_broken_template(tmp_path: Path) -> None:
    broken = (DEPLOY / "template.yaml").read_text().replace("MemorySize: 1024", "MemorySize: 1")
    (tmp_path / "t.yaml").write_text(broken)
    problems = lint(tmp_path / "t.yaml")
    assert problems and any("E3034" in p and "128" in p for p in problems)


def test_the_function_reads_a_queue_with_a_dead_letter_queue_and_runs_on_a_schedule() -> None:
    resources = template()["Resources"]
    kinds = {name: r["Type"] for name, r in resources.items()}
    assert kinds["Function"] == "AWS::Lambda::Function"
    function = resources["Function"]["Properties"]
    assert function["PackageType"] == "Image"
    assert function["Environment"]["Variables"]["TRAILSCOPE_LAKE"]
    queue = resources["NotificationQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "GetAtt": "NotificationDeadLetterQueue.Arn"
    }
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert resources["QueueToFunction"]["Properties"]["EventSourceArn"] == {
        "GetAtt": "NotificationQueue.Arn"
    }
    assert "ScheduleExpression" in resources["DetectionSchedule"]["Properties"]
    assert kinds["AlertTopic"] == "AWS::SNS::Topic"


def test_the_role_grants_no_wildcard_action_or_resource() -> None:
    resources = template()["Resources"]
    statements = [
        s
        for policy in resources["FunctionRole"]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert all("*" not in a for a in actions), s["Sid"]
        assert s["Resource"] != "*", s["Sid"]
    writes = {a for s in statements for a in s["Action"] if "Put" in a or "Delete" in a}
    lake_statement = next(s for s in statements if s["Sid"] == "WriteTheLake")
    assert writes <= set(lake_statement["Action"]) | {"logs:PutLogEvents", "sqs:DeleteMessage"}


@pytest.mark.parametrize("name", ["Dockerfile", "watch.Dockerfile"])
def test_the_images_install_this_package(name: str) -> None:
    text = (DEPLOY / name).read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    if name == "Dockerfile":
        assert 'CMD ["trailscope.aws_lambda.handler"]' in text
        from trailscope.aws_lambda import handler

        assert callable(handler)
    else:
        assert 'ENTRYPOINT ["trailscope", "watch"]' in text


def test_the_systemd_unit_runs_the_watch_and_stops_it_with_sigterm() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "trailscope-watch.service")
    service = unit["Service"]
    assert " watch " in service["ExecStart"] and "--alert" not in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
