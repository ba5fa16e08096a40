"""Account names: from AWS Organizations (moto's server on loopback) and from files."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.enrich import EnrichError
from trailscope.enrich.accounts import accounts_table, load_file, load_organization, merge
from trailscope.facade import Lake

runner = CliRunner()


def _lake(root: Path) -> Path:
    """A lake of one event (the commands name an existing lake)."""
    src = root / "trail"
    src.mkdir(parents=True)
    event = {
        "eventVersion": "1.09",
        "eventTime": "2024-07-10T10:00:00Z",
        "eventID": "e-1",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "81.2.69.160",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser"},
    }
    (src / "events.json").write_text(json.dumps({"Records": [event]}))
    Lake(root / "lake").ingest(str(src), workers=1)
    return root / "lake"


@pytest.fixture
def organization(s3_server: str) -> dict[str, str]:
    """An organization on the moto server: name -> account id (its management account too)."""
    client = boto3.client("organizations", endpoint_url=s3_server, region_name="us-east-1")
    with contextlib.suppress(client.exceptions.AlreadyInOrganizationException):
        client.create_organization(FeatureSet="ALL")
    made = {}
    for name, env in (("prod-payments", "prod"), ("staging-web", "staging")):
        status = client.create_account(
            Email=f"{name}@example.com", AccountName=name, Tags=[{"Key": "env", "Value": env}]
        )["CreateAccountStatus"]
        made[name] = status["AccountId"]
    return made


def test_organizations_names_and_tags(s3_server: str, organization: dict[str, str]) -> None:
    accounts = {a.name: a for a in load_organization(endpoint_url=s3_server)}
    for name, account_id in organization.items():
        assert accounts[name].account_id == account_id
        assert accounts[name].email == f"{name}@example.com"
        assert accounts[name].source == "organizations"
    assert accounts["prod-payments"].tags == {"env": "prod"}
    assert accounts["staging-web"].tags == {"env": "staging"}


def test_cli_organizations_with_a_profile(
    s3_server: str, organization: dict[str, str], tmp_path: Path, monkeypatch
) -> None:
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile management]\nregion = us-east-1\n")
    creds.write_text("[management]\naws_access_key_id = testing\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", s3_server)
    lake = _lake(tmp_path)
    args = ["enrich", "accounts", "--organizations", "--profile", "management", "--lake", lake]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    table = Lake(lake).read_table("accounts")
    assert table is not None
    names = dict(
        zip(table.column("account_id").to_pylist(), table.column("name").to_pylist(), strict=True)
    )
    for name, account_id in organization.items():
        assert names[account_id] == name
    rows = {r["name"]: r for r in table.to_pylist()}
    assert rows["prod-payments"]["tags"] == "env=prod"


def test_cli_unknown_profile_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    lake = _lake(tmp_path)
    result = runner.invoke(
        app, ["enrich", "accounts", "--organizations", "--profile", "nope", "--lake", str(lake)]
    )
    assert result.exit_code == 1
    assert "error: AWS Organizations: The config profile (nope) could not be found" in result.output


def test_csv_file(tmp_path: Path) -> None:
    f = tmp_path / "accounts.csv"
    f.write_text(
        "account_id,name,env,team\n"
        "111122223333,prod-payments,prod,payments\n"
        "\n"
        "012345678901,sandbox,,\n"
    )
    accounts = load_file(f)
    assert [(a.account_id, a.name, a.tags) for a in accounts] == [
        ("111122223333", "prod-payments", {"env": "prod", "team": "payments"}),
        ("012345678901", "sandbox", {}),
    ]
    table = accounts_table(accounts)
    assert table.column("tags").to_pylist() == [None, "env=prod;team=payments"]  # sorted by id


def test_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "accounts.yml"
    f.write_text(
        "'012345678901': sandbox\n"
        "111122223333:\n"
        "  name: prod-payments\n"
        "  email: aws-prod@example.com\n"
        "  tags: {env: prod}\n"
    )
    got = [(a.account_id, a.name, a.email, a.tags) for a in load_file(f)]
    assert got == [
        ("012345678901", "sandbox", None, {}),
        ("111122223333", "prod-payments", "aws-prod@example.com", {"env": "prod"}),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.csv",
            "account_id,name\n111122223333,prod\n11112222333,short\n",
            "line 3: '11112222333' is not an account id",
        ),
        (
            "b.csv",
            "account_id,name\n111122223333,prod\n444455556666\n",
            "line 3: 1 fields, the header has 2",
        ),
        ("c.csv", "id,name\n111122223333,  \n", "line 2: account 111122223333 has an empty name"),
        (
            "d.csv",
            "account,label\n111122223333,x\n",
            "line 1: the header needs an 'account_id' and a 'name' column",
        ),
        (
            "e.yml",
            "111122223333: prod\n444455556666: {tags: {env: x}}\n",
            "line 2: account 444455556666 needs a name",
        ),
        ("f.yml", "111122223333: prod\n12345: dev\n", "line 2: '12345' is not an account id"),
        ("g.yml", "111122223333: prod\n  bad: [\n", "line 2: not valid YAML"),
    ],
)
def test_a_bad_line_names_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(EnrichError) as e:
        load_file(f)
    assert e.value.message.startswith(f"{f} {message}")
    assert "\n" not in e.value.message


def test_cli_bad_file_keeps_the_table(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    good = tmp_path / "accounts.csv"
    good.write_text("account_id,name\n111122223333,prod\n")
    assert (
        runner.invoke(app, ["enrich", "accounts", "-f", str(good), "--lake", str(lake)]).exit_code
        == 0
    )
    bad = tmp_path / "more.csv"
    bad.write_text("account_id,name\n444455556666,dev\nnot-an-id,x\n")
    result = runner.invoke(app, ["enrich", "accounts", "-f", str(bad), "--lake", str(lake)])
    assert result.exit_code == 1
    assert f"error: {bad} line 3: 'not-an-id' is not an account id" in result.output
    table = Lake(lake).read_table("accounts")
    assert table is not None and table.column("name").to_pylist() == ["prod"]  # nothing lost


def test_merge_keeps_other_accounts_unless_replaced() -> None:
    from trailscope.enrich.accounts import Account

    old = accounts_table([Account("111122223333", "old"), Account("444455556666", "dev")])
    new = accounts_table([Account("111122223333", "prod")])
    assert merge(old, new).column("name").to_pylist() == ["prod", "dev"]
    assert merge(old, new, replace=True).column("name").to_pylist() == ["prod"]
