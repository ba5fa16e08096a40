"""Stop Python work that runs past its time limit, in the thread that runs it.

Parsing SQL typed into the workbench is pure Python (sqlglot) and can take minutes on a huge or
pathological query. DuckDB queries are interrupted through their connection; Python code has no
such handle, and a thread cannot be killed. What Python offers is an exception raised
asynchronously in a thread (``PyThreadState_SetAsyncExc``): it fires at the thread's next
bytecode, which pure-Python parsing reaches constantly. The work runs in a thread of its own,
so the request gets its answer at the time limit and the exception can only ever reach the
work, which is cut off where it stands.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

log = logging.getLogger(__name__)

T = TypeVar("T")


class _DeadlinePassed(BaseException):
    """Raised inside the thread whose work ran past its deadline (never escapes this module)."""


def run_with_deadline(
    work: Callable[[], T], seconds: float, *, on_timeout: Callable[[], BaseException]
) -> T:
    """``work()`` in a thread of its own; past ``seconds`` the caller gets ``on_timeout()`` at
    once, and the work is stopped in its thread.

    The exception that stops the work is aimed at that thread only, and sent again until the
    thread ends: one that lands where Python swallows exceptions (a weak reference's callback
    run by the garbage collector) is not enough, and a thread that serves requests must never
    receive one late. Work inside C code (a regular expression, a DuckDB call) is stopped when
    it returns to Python; this is meant for Python work such as parsing.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, work()))
        except _DeadlinePassed:
            pass
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=run, name="trailscope-deadline", daemon=True)
    worker.start()
    if not done.wait(seconds):
        threading.Thread(target=_stop, args=(worker, done), daemon=True).start()
        log.info("stopped work that ran past its %.3g s time limit", seconds)
        raise on_timeout()
    ok, value = outcome[0]
    if ok:
        return cast(T, value)
    raise value


def _stop(worker: threading.Thread, done: threading.Event) -> None:
    """Raise :class:`_DeadlinePassed` in ``worker`` until its work has ended."""
    while not done.is_set() and worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(_DeadlinePassed)
        )
        done.wait(0.05)
