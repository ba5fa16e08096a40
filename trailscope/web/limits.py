"""How many query requests one client may have running at once.

Pages run in worker threads and take a pooled connection per query (see :mod:`.lakeview`);
this caps what one browser (or one script) can hold, so a user who opens ten heavy workbench
tabs slows down only themselves. A client is its session cookie, or its address without one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request

from trailscope.errors import TrailscopeError
from trailscope.web.security import SESSION_COOKIE

#: Query requests (workbench, downloads, Explore) one client may have in flight.
PER_CLIENT = 2


class TooManyRequests(TrailscopeError):
    """The client has as many query requests running as it may."""


def client_key(request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "s:" + session
    return "a:" + (request.client.host if request.client else "?")


class ClientLimiter:
    def __init__(self, per_client: int = PER_CLIENT) -> None:
        self.per_client = per_client
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold one of ``key``'s slots, or raise :class:`TooManyRequests` at once."""
        with self._lock:
            n = self._running.get(key, 0)
            if n >= self.per_client:
                raise TooManyRequests(
                    f"you have {n} queries running already",
                    hint="wait for one of them to finish (or close its tab), then try again",
                )
            self._running[key] = n + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running.get(key, 1) - 1
                if left:
                    self._running[key] = left
                else:
                    self._running.pop(key, None)
