"""``watch``: ingest, detect and alert on a live trail, unattended (see trailscope.watch)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from trailscope.cli.base import LakeOpt, app, cell, err, guard, out, safe
from trailscope.errors import TrailscopeError

if TYPE_CHECKING:
    from trailscope.watch.health import WatchHealth


@app.command()
def watch(
    source: Annotated[
        str,
        typer.Argument(
            help="The trail: s3://BUCKET/PREFIX or a local folder (a copy of the bucket).",
            show_default=False,
        ),
    ],
    lake: LakeOpt = "lake",
    every: Annotated[str, typer.Option(help="Time between cycles: 30s, 5m, 1h.")] = "5m",
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle and exit (for cron).")
    ] = False,
    sqs_queue: Annotated[
        str | None,
        typer.Option(
            help="URL of an SQS queue fed by the bucket's object notifications (directly, "
            "through SNS or EventBridge): ingest exactly the objects it names instead of "
            "listing. $AWS_ENDPOINT_URL_SQS points at an SQS-compatible server."
        ),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            help="Where to alert (repeatable): webhook=URL, slack=URL, sns=TOPIC_ARN, "
            "email=ADDRESS. Also read, comma-separated, from $TRAILSCOPE_ALERTS (keeps "
            "secret URLs out of the process list).",
        ),
    ] = None,
    min_severity: Annotated[
        str, typer.Option(help="Alert on findings of this severity or above.")
    ] = "medium",
    realert_after: Annotated[
        str | None,
        typer.Option(help="Alert again on a finding still active after this long (24h, 7d)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Address of 'trailscope serve', for links to findings in alerts."),
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option("--rules", help="A folder of extra rules (YAML or Sigma; repeatable)."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes for a cycle with much to ingest.")
    ] = 1,
    retry_cap: Annotated[
        str,
        typer.Option(help="Longest pause between tries while the source or lake is down."),
    ] = "5m",
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (default: the AWS chain).")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint of the source.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings.")] = False,
) -> None:
    """Watch a trail: ingest each new file, run the detections on it, alert once per finding.

    Each cycle ingests what is new (listing the source, or the objects an SQS queue of the
    bucket's notifications names), runs every detection over the new events (and the window
    each rule needs before them), records findings in the lake and alerts on new ones. Bad
    files are quarantined; an unreachable source or lake is retried with a growing pause and
    caught up afterwards. SIGTERM or Ctrl-C finish the running cycle and stop; the next start
    continues where the lake says. One watch per lake. Its health: 'trailscope lake info'.

    Exit codes: 0 stopped (or --once done), 1 error, 3 --once quarantined something,
    130 stopped by Ctrl-C.

    Examples:

      trailscope watch s3://trail-bucket/AWSLogs/ --lake ./lake --every 5m --alert webhook=https://hooks.example.com/x

      trailscope watch ./trail --lake ./lake --once
    """
    from trailscope.detect import Severity
    from trailscope.facade import Lake
    from trailscope.sources import open_source
    from trailscope.watch.alerting import make_alerting
    from trailscope.watch.loop import Watcher, WatchOptions
    from trailscope.watch.schedule import parse_interval

    def say(text: str) -> None:
        err.print(safe(text), highlight=False, soft_wrap=True)

    def run() -> int:
        logging.basicConfig(
            level=logging.WARNING if quiet else logging.INFO,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        for noisy in ("botocore", "urllib3", "s3transfer", "trailscope.lake", "trailscope.detect"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        options = WatchOptions(
            every=parse_interval(every),
            once=once,
            workers=workers,
            backoff_cap=parse_interval(retry_cap, option="--retry-cap"),
            profile=profile,
            endpoint_url=endpoint_url,
            rule_dirs=list(rules or []),
        )
        realert = (
            timedelta(seconds=parse_interval(realert_after, option="--realert-after"))
            if realert_after
            else None
        )
        from_env = os.environ.get("TRAILSCOPE_ALERTS", "")
        specs = list(alert or []) + [s.strip() for s in from_env.split(",") if s.strip()]
        alerting = make_alerting(
            specs,
            min_severity=Severity.parse(min_severity),
            realert_after=realert,
            base_url=base_url,
        )
        src = open_source(source, profile=profile, endpoint_url=endpoint_url)
        queue = None
        if sqs_queue:
            from trailscope.watch.queue import NotificationQueue

            if not src.uri.startswith("s3://"):
                raise TrailscopeError(
                    "--sqs-queue needs an s3:// source",
                    hint="give the bucket the queue's notifications come from",
                )
            queue = NotificationQueue(sqs_queue, profile=profile)
        watcher = Watcher(Lake(lake), src, alerting, options, queue=queue, say=say)
        if not quiet:
            say(f"watching {src.uri} into {lake} every {every}" + (" (once)" if once else ""))
        return watcher.run()

    raise typer.Exit(guard(run))


def print_watch_health(health: WatchHealth) -> None:
    """The watch's part of 'lake info': state, last cycle, lag, per-cycle and total counts."""
    cycle = health.last_cycle
    lag = health.lag_seconds()
    t = Table(show_header=False, box=None, pad_edge=False)
    where = f"{health.mode}, every {health.every_seconds:g} s"
    t.add_row("watch", cell(f"{health.state} (pid {health.pid} on {health.host}; {where})"))
    t.add_row("  source", cell(health.source))
    if health.destinations:
        t.add_row("  alerts to", ", ".join(health.destinations))
    if cycle is not None:
        t.add_row(
            "  last cycle",
            cell(f"{cycle.result} at {cycle.finished_at} in {cycle.duration_seconds:.1f} s"),
        )
        t.add_row(
            "  that cycle",
            f"{cycle.objects:,} files, {cycle.events:,} events, {cycle.quarantined:,} "
            f"quarantined, {cycle.findings_opened:,} findings opened, alerts "
            f"{cycle.alerts_sent:,} sent / {cycle.alerts_queued:,} queued / "
            f"{cycle.alerts_failed:,} failed",
        )
        if cycle.error:
            t.add_row("  error", cell(cycle.error))
    t.add_row("  last success", cell(health.last_success or "never"))
    t.add_row(
        "  ingest lag", "-" if lag is None else f"{lag:,.0f} s (newest {health.newest_event})"
    )
    tot = health.totals
    t.add_row(
        "  totals",
        f"{tot.cycles:,} cycles ({tot.failed_cycles:,} failed), {tot.objects:,} files, "
        f"{tot.events:,} events, {tot.quarantined:,} quarantined, {tot.findings_opened:,} "
        f"findings, {tot.alerts_sent:,} alerts sent, {tot.alerts_failed:,} failed",
    )
    out.print(t)
