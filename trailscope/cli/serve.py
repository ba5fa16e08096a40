"""``serve``: the dashboards, drill-down and SQL workbench in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trailscope.cli.base import EXIT_OK, LakeOpt, app, guard, out


@app.command()
def serve(
    lake: LakeOpt = "lake",
    host: Annotated[
        str, typer.Option(help="Address to listen on. Beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8700,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="TRAILSCOPE_TOKEN",
            help="Access token every request must carry (also $TRAILSCOPE_TOKEN).",
            show_default=False,
        ),
    ] = None,
    no_token: Annotated[
        bool,
        typer.Option(
            "--no-token", help="Listen beyond loopback without a token (a trusted network only)."
        ),
    ] = False,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the address in a web browser once listening.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Time limit of each query, in seconds.")
    ] = 30,
    tz: Annotated[
        str,
        typer.Option(
            "--tz",
            help="Time zone pages show times in, e.g. Asia/Tokyo (stored times stay UTC; a "
            "page can pick another).",
        ),
    ] = "UTC",
    dashboards: Annotated[
        Path | None,
        typer.Option(
            help="A folder of your own dashboard files (.yml or .json), added to the "
            "navigation and read again when they change; 'add to dashboard' writes there.",
            show_default=False,
        ),
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(
            help="A folder of your own saved queries (.sql), added to the workbench's library.",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            help="A folder of detection rules (YAML or Sigma) the Detections page runs too "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve dashboards, drill-down and a SQL workbench over a lake, in a browser.

    Everything ships in the package: no CDN, no outside request, works air-gapped. It listens
    on 127.0.0.1 by default. Relative time ranges (24h, 7d) count back from now; every page
    shows the range it covers and says so when the range misses the lake. To listen on other
    addresses give an access token (--token), which every request must carry; the printed
    address includes it. The workbench is read-only: it
    can read the lake's files and nothing else.

    Examples:

      trailscope serve --lake ./lake

      trailscope serve --lake ./lake --port 9000 --open

      trailscope serve --lake ./lake --host 0.0.0.0 --token "$(openssl rand -hex 16)"

      trailscope serve --lake ./lake --tz Asia/Tokyo --dashboards ./my-dashboards
    """
    from trailscope.facade import open_lake
    from trailscope.web import serve as run_server

    def ready(url: str) -> None:
        out.print(f"serving {lake} at [bold]{url}[/]  (Ctrl-C to stop)", soft_wrap=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    def run() -> int:
        open_lake(lake)  # a clear error for a missing lake, before anything listens
        run_server(
            lake,
            host=host,
            port=port,
            token=token or None,
            allow_no_token=no_token,
            on_ready=ready,
            timeout=timeout,
            tz=tz,
            dashboards=dashboards,
            queries=queries,
            rules=list(rules or []),
        )
        return EXIT_OK

    raise typer.Exit(guard(run))
