"""One kept engine per lake, shared by everything that reads it, replaced when the lake changes.

Opening an engine costs more than most queries (the lake's commit log, DuckDB's view over every
file's footer), so the Python API and the web app keep one and reuse it. Whoever asks takes a
*lease* on the current generation; when the lake changes (a new commit, a rewritten
verification record) the next lease opens a new generation, and the old one is closed only
once its last lease ends, so a query in flight is never cut off by someone else's refresh.

The cache knows nothing about lakes: the owner gives it a function that opens an engine with a
key describing what it was opened over, and one that tells whether a key is still current.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # DuckDB is imported by whoever opens an engine, not by keeping one
    from trailscope.engines.duckdb import DuckDBEngine

log = logging.getLogger(__name__)

K = TypeVar("K")


@dataclass(eq=False)
class Generation(Generic[K]):
    """One opened engine and what was built on it (closed together, after the last lease)."""

    key: K
    engine: DuckDBEngine
    number: int
    #: what users of the cache attach to this generation (connections, remembered answers)
    extras: dict[str, Any] = field(default_factory=dict)
    leases: int = 0
    retired: bool = False
    _on_close: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when this generation closes (before its engine is closed)."""
        self._on_close.append(fn)

    def _close(self) -> None:
        for fn in reversed(self._on_close):
            try:
                fn()
            except Exception:  # closing must go on: the engine below still needs closing
                log.warning("closing what was built on engine generation %s failed", self.number)
        self._on_close.clear()
        with contextlib.suppress(Exception):  # already closed by an interpreter shutting down
            self.engine.close()


class EngineCache(Generic[K]):
    """The current engine of one lake, handed out as leases (see the module's docstring)."""

    def __init__(
        self,
        opener: Callable[[], tuple[K, DuckDBEngine]],
        is_current: Callable[[K], bool],
    ) -> None:
        """:param opener: opens an engine over the lake as it is now, with the key of that state.
        :param is_current: whether an engine opened with this key still shows the lake as it is.
        """
        self._opener = opener
        self._is_current = is_current
        self._lock = threading.Lock()
        self._current: Generation[K] | None = None
        self._checked = 0.0
        self._count = 0

    @contextmanager
    def lease(self, *, max_age: float = 0.0) -> Iterator[Generation[K]]:
        """The current generation, kept open until the ``with`` block ends.

        :param max_age: seconds during which the last freshness check is trusted (a remote lake
            costs a request or two per check; 0 checks every time).
        """
        gen = self._acquire(max_age)
        try:
            yield gen
        finally:
            self._release(gen)

    def _acquire(self, max_age: float) -> Generation[K]:
        with self._lock:
            gen = self._current
            now = time.monotonic()
            if gen is not None and (max_age <= 0 or now - self._checked >= max_age):
                if not self._is_current(gen.key):
                    self._retire(gen)
                    gen = None
                self._checked = now
            if gen is None:
                key, engine = self._opener()
                self._count += 1
                gen = self._current = Generation(key, engine, self._count)
                self._checked = now
            gen.leases += 1
            return gen

    def _release(self, gen: Generation[K]) -> None:
        with self._lock:
            gen.leases -= 1
            closing = gen.retired and gen.leases == 0
        if closing:
            gen._close()

    def _retire(self, gen: Generation[K]) -> None:
        """Called with the lock held: no new leases; closed now if none is out."""
        gen.retired = True
        if self._current is gen:
            self._current = None
        if gen.leases == 0:
            gen._close()

    def current(self) -> Generation[K] | None:
        """The generation now kept, if any (no lease: for interrupting its queries)."""
        return self._current

    def reset(self) -> None:
        """Drop the kept engine (closed once its leases end); the next lease opens a new one."""
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
