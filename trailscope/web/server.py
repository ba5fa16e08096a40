"""Run the web app with uvicorn, safely by default, and say where it is once it listens."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from trailscope.errors import TrailscopeError
from trailscope.web.auth import check_bind, is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700


def url_for(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={quote(token)}" if token else "")


def _check_free(host: str, port: int) -> None:
    """A clear error for a busy port, before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise TrailscopeError(
                f"cannot listen on {host} port {port}: {exc.strerror}",
                hint="choose another port with --port, or stop what uses this one",
            ) from None


def serve(
    lake_path: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    allow_no_token: bool = False,
    on_ready: Callable[[str], None] | None = None,
    timeout: float = 30.0,
    warm: bool = True,
    tz: str = "UTC",
    dashboards: str | os.PathLike[str] | None = None,
    queries: str | os.PathLike[str] | None = None,
    rules: list[str | os.PathLike[str]] | None = None,
) -> None:
    """Serve ``lake_path`` until Ctrl-C. Listening beyond loopback needs a ``token`` unless
    ``allow_no_token``; ``on_ready(url)`` is called once the socket listens (the URL carries
    the token, if any). ``warm`` computes each dashboard's default view in the background as
    the server starts, so first visits are answered from memory. ``tz``, ``dashboards``,
    ``queries`` and ``rules``: see :func:`trailscope.web.app.create_app`."""
    import uvicorn

    from trailscope.web.app import create_app

    check_bind(host, token, allow_no_token)
    _check_free(host, port)
    app = create_app(
        lake_path,
        token=token,
        loopback_only=token is None and is_loopback(host),
        timeout=timeout,
        tz=tz,
        dashboards=dashboards,
        queries=queries,
        rules=rules,
    )
    site = app.state.site
    site.view.span()  # open the lake and the engine before the first request
    if warm:
        from trailscope.web.views.dashboard import warm as compute_defaults

        threading.Thread(
            target=compute_defaults,
            args=(site.view, site.registry.all(), site.settings.tz),
            daemon=True,
        ).start()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,  # then queries still running are interrupted (below)
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started and on_ready is not None:
            bound = port
            for s in getattr(server, "servers", []):
                for sock in getattr(s, "sockets", []) or []:
                    bound = sock.getsockname()[1]
            on_ready(url_for(host, bound, token))

    watcher = threading.Thread(target=announce, daemon=True)
    watcher.start()
    try:
        server.run()
    finally:
        app.state.view.close()
