"""Stop Python work that runs past its time limit, in the thread that runs it.

Parsing SQL typed into the workbench is pure Python (sqlglot) and can take minutes on a huge or
pathological query. DuckDB queries are interrupted through their connection; Python code has no
such handle, and a thread cannot be killed. What Python offers is an exception raised
asynchronously in a thread (``PyThreadState_SetAsyncExc``): it fires at the thread's next
bytecode, which pure-Python parsing reaches constantly. The work is cut off where it stands and
its thread goes back to serving requests.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class _DeadlinePassed(BaseException):
    """Raised inside the thread whose work ran past its deadline (never escapes this module)."""


def run_with_deadline(
    work: Callable[[], T], seconds: float, *, on_timeout: Callable[[], BaseException]
) -> T:
    """``work()`` in this thread; past ``seconds`` it is stopped and ``on_timeout()`` raised.

    Work inside C code (a regular expression, a DuckDB call) is stopped when it returns to
    Python; this is meant for Python work such as parsing.
    """
    target = threading.get_ident()
    guard = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with guard:
            if state["done"]:
                return
            state["fired"] = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(target), ctypes.py_object(_DeadlinePassed)
            )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            return work()
        finally:
            with guard:
                state["done"] = True
            timer.cancel()
    except _DeadlinePassed:
        log.info("stopped work that ran past its %.3g s time limit", seconds)
        raise on_timeout() from None
    finally:
        _clear_pending(target, state)


def _clear_pending(target: int, state: dict[str, bool]) -> None:
    """Take back an exception that was scheduled but not yet raised (it fired as the work
    ended): it must not surface later in unrelated code of this thread."""
    if state["fired"]:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
