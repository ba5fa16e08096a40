"""``detect``: run the built-in and Sigma detections over the lake, for people and for CI."""

from __future__ import annotations

import csv as _csv
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from trailscope.cli.base import (
    EXIT_OK,
    INTERRUPTED_READING,
    LakeOpt,
    app,
    cell,
    check_time,
    err,
    guard,
    out,
    plain,
    safe,
    usage,
)
from trailscope.cli.completion import complete_findings_format, complete_rule_id, complete_severity
from trailscope.cli.output import (
    CsvOpt,
    ExcelOpt,
    JsonOutOpt,
    NdjsonOpt,
    Output,
    TzOpt,
    choose_output,
    table_layout,
)
from trailscope.cli.query import (
    DatabaseOpt,
    EngineOpt,
    OutputLocationOpt,
    ProfileOpt,
    RegionOpt,
    SparkConfOpt,
    SparkMasterOpt,
    WorkgroupOpt,
    _engine_options,
)
from trailscope.cli.windows import WINDOW_RULE, in_zone, print_resolved
from trailscope.errors import TrailscopeError
from trailscope.exitcodes import ExitCode
from trailscope.timewindow import show_time, zone

#: Findings at or above ``--fail-on`` were found (0: none; 1: an error stopped the run).
EXIT_FINDINGS = ExitCode.FINDINGS

_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


@app.command()
def detect(
    lake: LakeOpt = "lake",
    since: Annotated[
        str | None,
        typer.Option(
            callback=check_time,
            help="Only events from this time on: 7d, 1h30m, now, 2024-07-01, an ISO time or "
            "epoch seconds/milliseconds. " + WINDOW_RULE,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            callback=check_time, help="Only events up to this time (a date means its end)."
        ),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules",
            help="Also run the rules in this folder (Sigma or trailscope YAML; repeatable).",
        ),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule", help="Run only this rule id (repeatable).", autocompletion=complete_rule_id
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Set a rule parameter: RULE_ID.NAME=VALUE (repeatable)."),
    ] = None,
    no_builtin: Annotated[
        bool, typer.Option("--no-builtin", help="Run only the rules given with --rules.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-F",
            help="table, csv, json or ndjson (findings to stdout); --csv, --json, --ndjson "
            "and --excel are shortcuts.",
            autocompletion=complete_findings_format,
            show_default=False,
        ),
    ] = None,
    csv: CsvOpt = False,
    json_: JsonOutOpt = False,
    ndjson: NdjsonOpt = False,
    excel: ExcelOpt = False,
    tz: TzOpt = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="Exit with 2 when a finding of this severity or above is found "
            "(info, low, medium, high, critical).",
            autocompletion=complete_severity,
        ),
    ] = None,
    list_: Annotated[
        bool,
        typer.Option(
            "--list",
            help="List the rules with their tuning (and the files that cannot run), no run.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Tune rules with this detections config (enable, severity, parameters, "
            "exceptions); default: detections.yml in the lake, if there is one.",
        ),
    ] = None,
    attack_layer: Annotated[
        Path | None,
        typer.Option(
            "--attack-layer",
            help="Write an ATT&CK Navigator layer of what the enabled rules cover to this file.",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0.1, help="Cancel a rule after this many seconds.")
    ] = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Record the findings in the lake (see 'trailscope findings') and show only "
            "those not seen before.",
        ),
    ] = False,
    engine_name: EngineOpt = "duckdb",
    database: DatabaseOpt = None,
    workgroup: WorkgroupOpt = "primary",
    output_location: OutputLocationOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    spark_master: SparkMasterOpt = None,
    spark_conf: SparkConfOpt = None,
) -> None:
    """Run detections on the lake and list what they found.

    Built-in rules cover root and password-only console sign-ins, sign-in bursts, security
    groups opened to the internet, CloudTrail/GuardDuty/Config tampering, backdoor keys,
    passwords and roles, admin policies, shared snapshots and AMIs, unusual regions and more;
    --rules adds a folder of Sigma rules (product aws, service cloudtrail) or rules of your own.

    Tuning without editing rules: a detections config (detections.yml at the root of the lake,
    or --config FILE) turns rules off, changes their severity or parameters, and excepts events
    (by account, principal pattern, source address or network, user agent, or any condition),
    each exception with its reason and an optional expiry date:

      rules:
        console-login-without-mfa: {severity: high}
        unusual-region: {enabled: false}
        failed-console-logins-from-one-ip: {params: {threshold: 20}}
        access-key-created-for-another-user:
          exceptions:
            - {reason: key rotation pipeline, principal: "arn:aws:iam::*:role/deploy-*"}

    Time windows: ages such as 7d or 24h count back from now (the wall clock); the resolved
    window is printed on stderr, and a window that misses the lake or covers only part of it is
    reported with the lake's first and last event.

    Exit codes: 0 nothing at or above --fail-on (or no --fail-on), 2 something at or above it,
    1 an error, 64 a usage error.

    Examples:

      trailscope detect --lake ./lake --since 7d

      trailscope detect --rules ./sigma/rules/cloud/aws/ --format ndjson > findings.ndjson

      trailscope detect --since 24h --fail-on high --format json

      trailscope detect --since 24h --new

      trailscope detect --param failed-console-logins-from-one-ip.threshold=5

      trailscope detect --list --rules ./sigma/rules/cloud/aws/

      trailscope detect --config tuning.yml --since 24h --fail-on high

      trailscope detect --list --attack-layer coverage.json

      trailscope detect --engine athena --database security --since 30d
    """
    from trailscope.detect import Severity, load_rules
    from trailscope.detect.config import apply_config
    from trailscope.detect.output import FORMATS
    from trailscope.detect.runner import resolve_config

    def run() -> int:
        if fmt is not None and fmt not in FORMATS:
            usage(f"unknown --format {fmt!r}: use one of " + ", ".join(FORMATS))
        if fmt == "parquet":
            usage("findings are written as table, csv, json or ndjson")
        chosen = choose_output(fmt, csv=csv, json_=json_, ndjson=ndjson, excel=excel, tz=tz)
        threshold = Severity.parse(fail_on) if fail_on else None
        if list_ or attack_layer:
            ruleset = load_rules(rules or [], include_builtin=not no_builtin)
            tuned = apply_config(ruleset.rules, resolve_config(config, _lake_at(lake)))
            if attack_layer:
                _write_layer(attack_layer, tuned.rules)
            if not list_:
                return EXIT_OK
            return _list(ruleset, tuned, chosen.format)
        from trailscope.engines import check_engine
        from trailscope.facade import EngineName, Lake, open_lake

        name = cast(EngineName, check_engine(engine_name))
        options = _engine_options(
            name,
            database=database,
            workgroup=workgroup,
            output_location=output_location,
            region=region,
            profile=profile,
            spark_master=spark_master,
            spark_conf=spark_conf,
        )
        # Athena reads its own table: the lake need not be on this machine.
        lk = Lake(lake, profile=profile) if name == "athena" else open_lake(lake, profile=profile)
        try:
            report = lk.detect(
                since=in_zone(since, tz),
                until=in_zone(until, tz, end=True),
                rules=rules or [],
                builtin=not no_builtin,
                rule_ids=rule or None,
                params=_params(param or []),
                config=config,
                engine=name,
                engine_options=options,
                timeout=timeout,
            )
            if new:  # recorded in the lake itself (on Athena: the lake must be at hand)
                _keep_new(lk if name != "athena" else open_lake(lake), report)
        finally:
            lk.close()
        if report.window is not None:
            print_resolved(report.window, tz)
        if chosen.format == "table":
            _table(report.findings, tz, _account_names(lake))
        else:
            _write(report.findings, chosen)
        _summary(report)
        if threshold is not None and report.at_or_above(threshold):
            return EXIT_FINDINGS
        return EXIT_OK

    raise typer.Exit(guard(run, interrupted=INTERRUPTED_READING))


def _keep_new(lake: Any, report: Any) -> None:
    """Record the run's findings; keep in the report only those the lake had not seen."""
    from trailscope.findings import record_findings

    recorded = record_findings(lake, report)
    report.findings = [report.findings[i] for i in recorded.new_indexes()]
    err.print(
        f"[dim]findings recorded: {recorded.cycle.opened} new, {recorded.cycle.updated} updated[/]",
        highlight=False,
    )


def _params(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        rule_id, dot, name = key.rpartition(".")
        if not sep or not dot or not rule_id or not name:
            raise TrailscopeError(f"bad --param {item!r}", hint="write --param RULE_ID.NAME=VALUE")
        out.setdefault(rule_id, {})[name] = value
    return out


#: severity, rule, principal and events: a finding's table never goes without them.
_ALWAYS = frozenset({0, 1, 2, 8})


def _account_names(lake: str) -> dict[str, str]:
    """Account id -> name from the lake's accounts table; none for a lake not read here."""
    from trailscope.facade import open_lake

    try:
        table = open_lake(lake).read_table("accounts")
    except TrailscopeError:
        return {}
    if table is None:
        return {}
    return dict(
        zip(table.column("account_id").to_pylist(), table.column("name").to_pylist(), strict=True)
    )


def _table(
    findings: list[Any], tz: str | None = None, account_names: dict[str, str] | None = None
) -> None:
    """Findings as a terminal table that keeps rule ids, ARNs and times whole: columns that do
    not fit are dropped from the middle and named on stderr (exports have every field). An
    account the lake has a name for shows it beside its id."""
    if not findings:
        return
    zone_ = zone(tz) if tz else None
    names_of = account_names or {}
    names = ["severity", "rule", "principal", "target", "source ip", "account", "region"]
    names += ["first seen", "events"]
    rows = [
        [
            f.severity.label,
            *(plain(v or "") for v in (f.rule_id, f.principal, f.target, f.source_ip)),
            plain(
                f"{f.account} {names_of[f.account]}" if f.account in names_of else f.account or ""
            ),
            plain(f.region or ""),
            show_time(f.first_seen, zone_) if zone_ and f.first_seen else plain(f.first_seen or ""),
            f"{f.event_count:,}",
        ]
        for f in findings
    ]
    # who did it matters more than where: the target, address and place go first
    keep, whole = table_layout(
        names, rows, out.width, frozenset({7}), drop_first=(3, 4, 6, 5, 7), always=_ALWAYS
    )
    table = Table(box=None)
    for i in keep:
        table.add_column(
            names[i],
            no_wrap=i in whole,
            overflow="fold",
            justify="right" if names[i] == "events" else "left",
        )
    for row in rows:
        label = row[0]
        table.add_row(
            *(Text(row[i], style=_SEVERITY_STYLE[label]) if i == 0 else Text(row[i]) for i in keep)
        )
    out.print(table)
    if len(keep) < len(names):
        hidden = ", ".join(n for i, n in enumerate(names) if i not in keep)
        err.print(
            f"[dim]not shown to keep ids, ARNs and times whole: {hidden} "
            "(widen the terminal or use --format csv or json)[/]",
            highlight=False,
        )


def _write(findings: list[Any], chosen: Output) -> None:
    """Findings as CSV, JSON or NDJSON on stdout (CSV for Excel: BOM, formulas made inert)."""
    import io

    from trailscope.detect.output import write_findings

    if not chosen.excel:
        write_findings(findings, chosen.format, sys.stdout)
        sys.stdout.flush()
        return
    from trailscope.export import FORMULA_STARTS, UTF8_BOM

    text = io.StringIO()
    write_findings(findings, "csv", text)
    lines = []
    for row in _csv.reader(io.StringIO(text.getvalue())):
        lines.append(["'" + v if v.startswith(FORMULA_STARTS) else v for v in row])
    buffer = io.StringIO()
    _csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    sys.stdout.buffer.write(UTF8_BOM + buffer.getvalue().encode())
    sys.stdout.buffer.flush()


def _summary(report: Any) -> None:
    window_note = report.window.note() if report.window is not None else None
    for warning in report.warnings:
        if warning == window_note:
            continue  # printed with the window, in the zone asked for
        err.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.severity.label] = counts.get(f.severity.label, 0) + 1
    by_level = ", ".join(f"{n} {label}" for label, n in counts.items()) or "nothing"
    err.print(
        f"[dim]{report.rules_run} rules ran: {len(report.findings)} findings ({by_level})[/]",
        highlight=False,
    )
    if report.unsupported:
        err.print(
            f"[yellow]{len(report.unsupported)} rules not run[/] "
            "(see 'trailscope detect --list' for each reason)",
            highlight=False,
        )


def _lake_at(lake: Path | str) -> Any:
    """The lake whose detections.yml applies, when there is one at that path."""
    from trailscope.detect.runner import _lake_if_any

    return _lake_if_any(lake)


def _write_layer(path: Path, rules: list[Any]) -> None:
    from trailscope.detect.attack import layer_json

    try:
        path.write_text(layer_json(rules), encoding="utf-8")
    except OSError as exc:
        raise TrailscopeError(f"cannot write the ATT&CK layer to {path}: {exc.strerror}") from None
    err.print(f"[dim]ATT&CK Navigator layer of {len(rules)} rules written to {path}[/]")


def _tuning_text(rule: Any) -> str:
    """What the config changed, in a few words (``--list``)."""
    tuning = rule.tuning
    parts = []
    if tuning.get("enabled") is False:
        parts.append("disabled")
    if "severity" in tuning:
        parts.append(f"severity {tuning['severity']}")
    for name, value in (tuning.get("params") or {}).items():
        parts.append(f"{name}={value}")
    exceptions = tuning.get("exceptions") or []
    if exceptions:
        parts.append(f"{len(exceptions)} exception{'s' if len(exceptions) > 1 else ''}")
    return ", ".join(parts)


def _list(ruleset: Any, tuned: Any, fmt: str) -> int:
    rules = tuned.rules + tuned.disabled
    if fmt in ("json", "ndjson"):
        data = {
            "rules": [{**r.summary(), "enabled": r in tuned.rules} for r in rules],
            "unsupported": [{"path": p, "reason": r} for p, r in ruleset.unsupported],
            "warnings": tuned.warnings,
        }
        out.print_json(data=data)
        return EXIT_OK
    columns = ("id", "severity", "tactic", "mitre", "kind", "origin", "tuning", "title")
    table = Table(*columns, box=None)
    for r in sorted(rules, key=lambda r: (-r.severity, r.id)):
        values = (r.id, r.severity.label, r.tactic or "", " ".join(r.mitre), r.kind, r.origin)
        table.add_row(*(cell(v) for v in (*values, _tuning_text(r), r.title)))
    out.print(table)
    for path, reason in ruleset.unsupported:
        err.print(
            f"[yellow]not run:[/] {safe(path)}: {safe(reason)}", highlight=False, soft_wrap=True
        )
    for warning in tuned.warnings:
        err.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    err.print(
        f"[dim]{len(tuned.rules)} rules enabled, {len(tuned.disabled)} disabled, "
        f"{len(ruleset.unsupported)} files not usable[/]",
        highlight=False,
    )
    return EXIT_OK
