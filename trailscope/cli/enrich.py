"""``lake enrich`` and ``enrich accounts|lookup``: where addresses are, which account is which.

The results are the lake's side tables ``ip_info`` and ``accounts`` (see docs/lake.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trailscope.cli.base import EXIT_OK, JsonOpt, LakeOpt, app, cell, guard, lake_app, out

enrich_app = typer.Typer(
    help="Enrich a lake: account names, and what is known of an address.", no_args_is_help=True
)
app.add_typer(enrich_app, name="enrich")

GeoipOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--geoip",
        help="A MaxMind-format database (GeoLite2/GeoIP2 City, Country or ASN, or IPinfo's "
        ".mmdb); repeat to combine (the first to answer a field wins). Without one, a bundled "
        "country list answers.",
        show_default=False,
    ),
]
RangesOpt = Annotated[
    Path | None,
    typer.Option(
        "--aws-ip-ranges",
        help="AWS's ip-ranges.json: marks the addresses that are AWS's (instances, NAT "
        "gateways, endpoints) with their service and region.",
        show_default=False,
    ),
]
NoFallbackOpt = Annotated[
    bool, typer.Option("--no-fallback", help="Do not use the bundled country list.")
]


@lake_app.command("enrich")
def lake_enrich(
    lake: LakeOpt = "lake",
    geoip: GeoipOpt = None,
    aws_ip_ranges: RangesOpt = None,
    no_fallback: NoFallbackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Look up every source address of the lake and keep the answers as side table ip_info.

    Country, ASN and AS organisation from the databases given, AWS's own ranges from
    --aws-ip-ranges, and a kind for each address (aws-service, aws-range, private, reserved,
    public, unknown). Run it again after an ingest or with a newer database: events are not
    rewritten, only the small table is.

    Examples:

      trailscope lake enrich --lake ./lake

      trailscope lake enrich --geoip GeoLite2-City.mmdb --geoip GeoLite2-ASN.mmdb
        --aws-ip-ranges ip-ranges.json
    """
    from trailscope.facade import open_lake

    def run() -> int:
        report = open_lake(lake).enrich(
            geoip or [], aws_ip_ranges=aws_ip_ranges, fallback=not no_fallback
        )
        if as_json:
            out.print_json(data=report.to_json())
            return EXIT_OK
        kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(report.by_kind.items()))
        out.print(
            f"enriched {report.addresses:,} addresses ({kinds or 'none'}): "
            f"{report.with_country:,} with a country, {report.with_asn:,} with a network; "
            f"sources: {', '.join(report.sources) or '-'}",
            highlight=False,
        )
        return EXIT_OK

    raise typer.Exit(guard(run))


@enrich_app.command("lookup")
def enrich_lookup(
    addresses: Annotated[list[str], typer.Argument(help="Addresses (or service names).")],
    geoip: GeoipOpt = None,
    aws_ip_ranges: RangesOpt = None,
    no_fallback: NoFallbackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """What the databases say of some addresses, without a lake.

    Examples:

      trailscope enrich lookup 81.2.69.160 2001:db8::1 s3.amazonaws.com
    """
    from trailscope.enrich.iptable import Enricher

    def run() -> int:
        enricher = Enricher.open(geoip or [], aws_ip_ranges=aws_ip_ranges, fallback=not no_fallback)
        rows = [enricher.describe(a) for a in addresses]
        enricher.close()
        if as_json:
            out.print_json(data=rows)
            return EXIT_OK
        t = Table()
        for name in ("ip", "kind", "country", "asn", "as_org", "aws_service", "aws_region"):
            t.add_column(name)
        for r in rows:
            t.add_row(
                *(
                    cell(r[k])
                    for k in ("ip", "kind", "country", "asn", "as_org", "aws_service", "aws_region")
                )
            )
        out.print(t)
        return EXIT_OK

    raise typer.Exit(guard(run))


@enrich_app.command("accounts")
def enrich_accounts(
    lake: LakeOpt = "lake",
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="CSV (account_id,name[,email][,tag columns...]) or YAML (id: name, or id: "
            "{name: ..., tags: {env: prod}}).",
            show_default=False,
        ),
    ] = None,
    organizations: Annotated[
        bool,
        typer.Option(
            "--organizations", help="Read the accounts from AWS Organizations (ListAccounts)."
        ),
    ] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="AWS profile for --organizations.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Drop accounts not in this list (default: keep).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Name the lake's accounts: kept as side table accounts, shown beside account ids and
    usable in filters (account: prod-*).

    Examples:

      trailscope enrich accounts --file accounts.csv --lake ./lake

      trailscope enrich accounts --organizations --profile management --lake ./lake
    """
    from trailscope.facade import open_lake

    def run() -> int:
        table = open_lake(lake).name_accounts(
            file=file, organizations=organizations, profile=profile, replace=replace
        )
        if as_json:
            out.print_json(data={"accounts": table.num_rows})
        else:
            out.print(f"the lake knows {table.num_rows:,} named accounts")
        return EXIT_OK

    raise typer.Exit(guard(run))
