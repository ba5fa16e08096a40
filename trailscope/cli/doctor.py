"""``doctor``: is the trail set up as the guides and the CIS benchmark say; ``doctor
bucket-policy``: the bucket policy they have users write by hand."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from trailscope.cli.base import EXIT_OK, app, guard, out, safe
from trailscope.errors import TrailscopeError
from trailscope.exitcodes import ExitCode

if TYPE_CHECKING:
    from trailscope.doctor import DoctorReport

#: Exit code when a check failed or could not be made (documented in --help and docs).
EXIT_PROBLEMS = ExitCode.DOCTOR_PROBLEMS

doctor_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(doctor_app, name="doctor")


class Format(StrEnum):
    table = "table"
    json = "json"


_MARK = {
    "pass": "[green]PASS[/]",
    "fail": "[bold red]FAIL[/]",
    "cannot check": "[yellow]????[/]",
    "info": "[dim]info[/]",
}


@doctor_app.callback()
def doctor(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (as in the AWS CLI; default: $AWS_PROFILE).")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="The region whose trails to check (default: the profile's region)."),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="One endpoint for every AWS service (a test server, e.g. moto)."),
    ] = None,
    trail: Annotated[
        str | None, typer.Option(help="Only this trail (name or ARN); default: every trail.")
    ] = None,
    require_kms: Annotated[
        bool, typer.Option("--require-kms", help="Fail unless logs are encrypted with SSE-KMS.")
    ] = False,
    require_cloudwatch: Annotated[
        bool,
        typer.Option(
            "--require-cloudwatch",
            help="Fail unless events also reach CloudWatch Logs (within the last day).",
        ),
    ] = False,
    format_: Annotated[
        Format | None, typer.Option("--format", help="table (default) or json.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Check, through the AWS APIs, the trail setup the CloudTrail guides and the CIS AWS
    Foundations Benchmark ask for, and print the fix for each problem.

    Checks each trail that logs --region (or only --trail): it logs every region, is logging,
    delivers, records management events (read and write), validates log files; its bucket
    blocks public access, its policy lets CloudTrail deliver with bucket-owner-full-control,
    grants nothing else, denies requests without TLS; the bucket has access logging and
    versioning. SSE-KMS and CloudWatch Logs are checked when required. Organization trails
    also need all features and CloudTrail's trusted access.

    Read-only: needs cloudtrail:Describe*/Get*, the s3:GetBucket* calls and, for organization
    trails, organizations:Describe*/List*. A refused call shows as "cannot check".

    Exit codes: 0 every check passed, 7 a check failed or could not be made, 1 error.

    Examples:

      trailscope doctor --profile audit --region eu-west-1

      trailscope doctor --trail management-events --require-kms --format json

      trailscope doctor bucket-policy --bucket my-trail-logs --account 111122223333
    """
    if ctx.invoked_subcommand is not None:
        return
    if as_json and format_ is Format.table:
        raise typer.BadParameter("--json and --format table contradict each other")
    wants_json = as_json or format_ is Format.json

    def run() -> int:
        from trailscope.doctor import diagnose

        result = diagnose(
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            trail=trail,
            require_kms=require_kms,
            require_cloudwatch=require_cloudwatch,
        )
        if wants_json:
            sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
        else:
            _print_report(result)
        return EXIT_OK if result.ok else EXIT_PROBLEMS

    raise typer.Exit(guard(run))


def _print_report(result: DoctorReport) -> None:
    out.print(
        f"[bold]account[/] {safe(result.account or '?')}  [bold]region[/] {safe(result.region)}",
        highlight=False,
    )
    current: str | None = ""
    for check in result.checks:
        if check.trail != current:
            current = check.trail
            if current:
                out.print(f"\n[bold]trail[/] {safe(current)}", highlight=False, soft_wrap=True)
        out.print(
            f"  {_MARK[check.status.value]}  {safe(check.title)}: {safe(check.detail)}",
            highlight=False,
            soft_wrap=True,
        )
        if check.fix:
            out.print(f"        [dim]fix:[/] {safe(check.fix)}", highlight=False, soft_wrap=True)
    counts = result.counts()
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    verdict = "[bold green]ok[/]" if result.ok else "[bold red]problems found[/]"
    out.print(f"\n{verdict}: {summary}", highlight=False)


def _valid(check: str) -> object:
    """A parameter callback running one of the doctor's name checks (a usage error if bad)."""

    def callback(value: str | None) -> str | None:
        if value is None:
            return value
        from trailscope.doctor import arns

        try:
            return str(getattr(arns, check)(value))
        except TrailscopeError as exc:
            message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            raise typer.BadParameter(message) from None

    return callback


@doctor_app.command("bucket-policy")
def bucket_policy(
    bucket: Annotated[
        str,
        typer.Option(
            help="The trail's bucket (a name, no s3://).", callback=_valid("check_bucket")
        ),
    ],
    account: Annotated[
        str,
        typer.Option(
            help="The account that owns the trail (for an organization trail, the management "
            "or delegated administrator account).",
            callback=_valid("check_account"),
        ),
    ],
    org_id: Annotated[
        str | None,
        typer.Option(
            "--org-id",
            help="Organization id (o-...): also allow the organization trail's AWSLogs/o-.../.",
            callback=_valid("check_org_id"),
        ),
    ] = None,
    config: Annotated[
        bool, typer.Option("--config", help="Also let AWS Config deliver to the bucket.")
    ] = False,
    trail: Annotated[
        str | None,
        typer.Option(
            help="The trail (ARN, or name with --region) to name in aws:SourceArn; default: "
            "any trail of --account."
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="The trail's home region.", callback=_valid("check_region")),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="The trail's S3 key prefix, if it has one.")
    ] = None,
) -> None:
    """Print the bucket policy the CloudTrail (and AWS Config) guides set up, as JSON.

    CloudTrail may read the bucket ACL and write under [PREFIX/]AWSLogs/ACCOUNT/ (and
    AWSLogs/ORG-ID/ with --org-id) only with s3:x-amz-acl = bucket-owner-full-control, scoped
    with aws:SourceArn; with --config, AWS Config may read the ACL, list the bucket and write
    under AWSLogs/ACCOUNT/Config/ (every member account with --org-id), scoped with
    aws:SourceAccount (aws:SourceOrgID); requests without TLS are denied.

    Examples:

      trailscope doctor bucket-policy --bucket my-trail-logs --account 111122223333 > policy.json

      aws s3api put-bucket-policy --bucket my-trail-logs --policy file://policy.json
    """

    def run() -> int:
        from trailscope.doctor import PolicyRequest
        from trailscope.doctor import bucket_policy as make

        document = make(
            PolicyRequest(
                bucket=bucket,
                account=account,
                org_id=org_id,
                trail=trail,
                region=region,
                prefix=prefix,
                config=config,
            )
        )
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return EXIT_OK

    raise typer.Exit(guard(run))
