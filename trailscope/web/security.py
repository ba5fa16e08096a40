"""Who may change things or run queries: same-origin checks and a CSRF token on POSTs.

A page the analyst opens elsewhere (another site, or another port of the same host, which
browsers treat as the same *site* and send SameSite cookies to) can make the browser send a
form to this server. Every POST therefore passes two checks:

* the browser's own word on where the request comes from: ``Sec-Fetch-Site`` must be
  ``same-origin`` (or ``none``: typed by the user) and ``Origin``, when sent, must be this
  server's own;
* a CSRF token in the form (``csrf``) or an ``X-CSRF-Token`` header: an HMAC of the browser's
  session cookie under a secret made when the server starts. A page on another port can set
  that cookie (cookies do not separate ports) but cannot compute its HMAC.

Requests that carry ``Authorization: Bearer`` are not forgeable by a page (a browser never adds
that header by itself), and requests with neither ``Origin`` nor ``Sec-Fetch-Site`` do not come
from a browser (browsers send them on every POST; curl and Python's ``httpx`` do not): both
pass without a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from trailscope.errors import TrailscopeError

SESSION_COOKIE = "trailscope_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class Refused(TrailscopeError):
    """A request this server will not serve (another origin, no CSRF token)."""


class Guard:
    """The server's CSRF secret and the checks made with it."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(18)

    def token_for(self, session: str) -> str:
        """The CSRF token of one browser session (its cookie)."""
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()[:40]

    def check_post(self, request: Request, form_token: str | None) -> None:
        """Raise :class:`Refused` unless this POST may be served (see the module docstring)."""
        check_origin(request)
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            return
        browser = request.headers.get("origin") or request.headers.get("sec-fetch-site")
        if not browser:
            return
        session = request.cookies.get(SESSION_COOKIE, "")
        given = form_token or request.headers.get(CSRF_HEADER, "")
        if not session or not given or not hmac.compare_digest(given, self.token_for(session)):
            raise Refused(
                "refused: this form has no valid CSRF token",
                hint="reload the page and send it again (a page of another site cannot)",
            )


def check_origin(request: Request) -> None:
    """Refuse a request a browser says came from another site or origin."""
    site = request.headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        raise Refused(
            f"refused: this request came from another site (Sec-Fetch-Site: {site})",
            hint="open trailscope's own page and send it from there",
        )
    origin = request.headers.get("origin")
    if origin == "null" and site == "same-origin":
        return  # a browser hiding the origin (a no-referrer policy) but saying it is ours
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc.lower() != host.lower():
            raise Refused(
                f"refused: this request came from another origin ({origin})",
                hint="open trailscope's own page and send it from there",
            )
    elif origin == "null":
        raise Refused("refused: this request came from an opaque origin")


def cross_site(request: Request) -> bool:
    """Whether a browser says this request was started by another site (a link elsewhere)."""
    return request.headers.get("sec-fetch-site") == "cross-site"
