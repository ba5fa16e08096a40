"""POSTing JSON to a URL whose text is a secret: errors say what failed, never where."""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import orjson

from trailscope.alerts import AlertError, DeliveryError

#: Seconds one delivery may take before it counts as failed (and is retried later).
TIMEOUT = 10.0


def check_url(url: str, kind: str) -> str:
    """``url`` if it is an http(s) URL with a host; an error that does not repeat it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    spaces = any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    if parts is None or parts.scheme not in ("http", "https") or not host or spaces:
        raise AlertError(
            f"the {kind} destination is not an http(s) URL",
            hint=f"write {kind}=https://host/path",
        )
    return url


def post_json(url: str, body: Any, headers: dict[str, str], *, timeout: float = TIMEOUT) -> int:
    """POST ``body`` as JSON; the status on 2xx, a :class:`DeliveryError` otherwise."""
    data = orjson.dumps(body)
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the receiver answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach the receiver ({_reason(exc.reason)})") from None
    except TimeoutError:
        raise DeliveryError(f"the receiver did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # ValueError: urllib refusing the URL, with the URL in its message
        raise DeliveryError(f"the delivery failed ({type(exc).__name__})") from None


def _reason(reason: object) -> str:
    """The OS's words for a connection failure (they name no URL)."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    return type(reason).__name__


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer we did not ask for: the alert must go where it was sent."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
