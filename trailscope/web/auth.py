"""Who may ask: an access token, and the hosts a loopback server answers to.

With a token, every request must carry it: ``Authorization: Bearer <token>``, the cookie set on
the first visit, or ``?token=`` in a link (answered with the cookie and a redirect to the same
address without the token, so it does not stay in the address bar or in Referer headers).
Without a token the server must listen on loopback only, and then it answers only requests
addressed to a loopback name, so a web page cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from trailscope.errors import TrailscopeError

COOKIE = "trailscope_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, allow_no_token: bool) -> None:
    """Refuse to listen beyond this machine with no token, unless explicitly allowed."""
    if token is None and not allow_no_token and not is_loopback(host):
        raise TrailscopeError(
            f"refusing to listen on {host} without an access token: anyone who can reach "
            "this address could read the lake",
            hint=f"add --token {new_token()} (a fresh random token), or --no-token if the "
            "network is trusted",
        )


def _host_only(header: str) -> str:
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


Handler = Callable[[Request], Awaitable[Response]]


Middleware = Callable[[Request, Handler], Awaitable[Response]]


def middleware(token: str | None, loopback_only: bool) -> Middleware:
    """The HTTP middleware enforcing the token (and loopback host names when asked)."""

    async def guard(request: Request, call_next: Handler) -> Response:
        if loopback_only:
            host = _host_only(request.headers.get("host", ""))
            if host.lower() not in LOOPBACK_NAMES:
                return PlainTextResponse("unknown host", status_code=400)
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _unauthorized(request)
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        candidate = bearer or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(candidate.encode(), token.encode()):
            return _unauthorized(request)
        return await call_next(request)

    return guard


def _unauthorized(request: Request) -> Response:
    message = (
        "this trailscope server needs its access token: open the address printed when it "
        "started (it ends in ?token=...), or send 'Authorization: Bearer <token>'"
    )
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=401)
    return PlainTextResponse(message, status_code=401, headers={"WWW-Authenticate": "Bearer"})
