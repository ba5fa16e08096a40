"""The time limit on Python work (parsing a workbench query): the request is answered at the
limit, and the work is stopped in its own thread even when it swallows the first stop."""

from __future__ import annotations

import threading
import time

import pytest

from trailscope.web.deadline import run_with_deadline


def test_work_that_swallows_the_first_stop_is_stopped_all_the_same() -> None:
    swallowed: list[str] = []
    ended = threading.Event()
    threads: list[str] = []

    def work() -> str:
        threads.append(threading.current_thread().name)
        try:
            end = time.monotonic() + 10
            try:
                while time.monotonic() < end:
                    pass
            except BaseException as exc:  # as a weak reference's callback under GC swallows it
                swallowed.append(type(exc).__name__)
            while time.monotonic() < end:
                pass
            return "finished"
        finally:
            ended.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="late"):
        run_with_deadline(work, 0.1, on_timeout=lambda: TimeoutError("late"))
    assert time.monotonic() - started < 1.0
    assert ended.wait(5), "the work went on after the time limit"
    assert swallowed == ["_DeadlinePassed"]
    assert threads != [threading.current_thread().name]  # never the caller's own thread


def test_work_within_the_limit_returns_its_value_or_raises_its_error() -> None:
    assert run_with_deadline(lambda: 42, 5, on_timeout=lambda: TimeoutError("late")) == 42

    def failing() -> None:
        raise ValueError("bad SQL")

    with pytest.raises(ValueError, match="bad SQL"):
        run_with_deadline(failing, 5, on_timeout=lambda: TimeoutError("late"))
