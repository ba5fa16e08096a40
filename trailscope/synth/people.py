"""Who lives in the synthetic organisation: names, user agents, roles and services.

User agents are real strings of the tools named (console browsers, AWS CLI v1 and v2, SDKs,
Terraform), so parsers and dashboards meet the shapes they meet in real trails.
"""

from __future__ import annotations

from typing import NamedTuple

HUMANS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
ENVIRONMENTS = ("management", "prod", "staging", "dev", "security", "data", "sandbox", "shared")
EMAIL_DOMAIN = "example.com"
GITHUB_ORG = "example-org"

UA_BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
)
UA_CLI = (
    "aws-cli/2.17.12 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off",
    "aws-cli/1.33.20 md/Botocore#1.34.138 ua/2.0 os/linux#6.8.0-36-generic md/arch#x86_64 "
    "lang/python#3.12.3 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.34.138",
)
UA_SDK = (
    "Boto3/1.34.140 md/Botocore#1.34.140 ua/2.0 os/linux#5.10.219 md/arch#x86_64 "
    "lang/python#3.12.4 exec-env/AWS_Lambda_python3.12",
    "aws-sdk-java/2.26.12 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/21.0.3+9-LTS Java/21.0.3 "
    "exec-env/AWS_ECS_FARGATE",
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64",
    "aws-sdk-js/3.614.0 ua/2.1 os/linux#5.10.219 lang/js md/nodejs#20.15.1",
)
UA_TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.57.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64",
)
UA_CONSOLE = ("AWS Internal", *UA_BROWSERS[:2])


class AppRole(NamedTuple):
    """A workload's role: how its sessions are named, which SDK it uses, whether it runs in a
    VPC (and so may call through VPC endpoints)."""

    name: str
    sessions: str  # ecs | ec2 | etl | lambda:<function name>
    sdk: int  # index into UA_SDK
    in_vpc: bool


APP_ROLES = (
    AppRole("orders-api-task-role", "ecs", 1, True),
    AppRole("ingest-events-lambda-role", "lambda:ingest-events", 0, True),
    AppRole("thumbnailer-lambda-role", "lambda:thumbnailer", 0, False),
    AppRole("web-ec2-instance-role", "ec2", 1, True),
    AppRole("batch-etl-role", "etl", 0, True),
    AppRole("eks-node-role", "ec2", 2, True),
)
SSO_PERMISSION_SETS = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess")
SWITCH_ROLES = ("Admin", "ReadOnly", "OrganizationAccountAccessRole")
#: Services that assume the workloads' roles.
ROLE_SERVICES = (
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "events.amazonaws.com",
)
#: Services that invoke Lambda functions.
INVOKERS = ("apigateway.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com")
