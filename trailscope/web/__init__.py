"""``trailscope serve``: dashboards, drill-down and a SQL workbench over a lake, in a browser.

Everything is served from this package (templates, CSS, a little script); nothing is fetched
from elsewhere, so it works air-gapped. See docs/web.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "serve"]


def create_app(lake_path: Any, *, token: str | None = None, **kwargs: Any) -> FastAPI:
    """The web app over one lake (for tests and embedding); see :func:`app.create_app`."""
    from trailscope.web.app import create_app as _create

    return _create(lake_path, token=token, **kwargs)


def serve(*args: Any, **kwargs: Any) -> None:
    """Serve a lake until interrupted; see :func:`trailscope.web.server.serve`."""
    from trailscope.web.server import serve as _serve

    _serve(*args, **kwargs)
