"""Worker processes that start clean: spawned, without running the caller's script again.

Python's ``spawn`` start method runs the parent's main module again in every new process (as
``__mp_main__``) so that functions and classes defined there can be unpickled. A script without
an ``if __name__ == "__main__":`` guard, such as the README's example pasted into a file, then
starts a second ingest inside each worker while it boots, and the pool dies with
``BrokenProcessPool``. Our workers run only trailscope's own functions on trailscope's own
objects, so they do not need the main module: :func:`worker_context` gives a ``spawn`` context
whose processes are told nothing about it.

When what the workers receive does come from the main module (a ``Source`` class written in the
script, say), the main module is needed to unpickle it, and the plain ``spawn`` context is used:
such a script must keep the guard, as Python's documentation asks of any script using spawn.

``fork`` is not an option: the committing process may already run pyarrow's and DuckDB's
threads (a script that queried before it ingests), and forking them is unsafe.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import pickle
import sys
import types
from multiprocessing.context import BaseContext, SpawnContext, SpawnProcess
from typing import Any

log = logging.getLogger(__name__)

#: The keys of the preparation data that make a spawned process run the main module again.
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


def worker_context(*shipped: object) -> BaseContext:
    """The multiprocessing context for worker processes that receive ``shipped``.

    :param shipped: what every worker is sent at start (pickled); if any of it is defined in
        the main module, the workers need that module and get Python's plain ``spawn``.
    """
    plain = multiprocessing.get_context("spawn")
    if _POPEN is None:
        return plain
    if _defined_in_main(shipped):
        log.info("workers run the main module again: what they are sent is defined there")
        return plain
    return _SpawnWithoutMainContext()


def _defined_in_main(objects: tuple[object, ...]) -> bool:
    """Whether pickling ``objects`` refers to a class or function of the main module."""
    found = False

    class Finder(pickle.Pickler):
        def persistent_id(self, obj: object) -> None:
            nonlocal found
            if getattr(obj, "__module__", None) in ("__main__", "__mp_main__"):
                found = True

    try:
        Finder(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL).dump(objects)
    except Exception:  # not picklable here: let multiprocessing report it, main module and all
        log.debug("could not inspect what the workers are sent", exc_info=True)
        return True
    return found


def _preparation_without_main(name: str) -> dict[str, Any]:
    """What a spawned process is told about its parent, minus the main module to run."""
    from multiprocessing import spawn

    data: dict[str, Any] = spawn.get_preparation_data(name)
    for key in _MAIN_KEYS:
        data.pop(key, None)
    return data


class _SpawnModuleView:
    """The ``spawn`` module as the launch sees it: live, but for the preparation data."""

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        if name == "get_preparation_data":
            return _preparation_without_main
        return getattr(self._module, name)


def _popen_without_main() -> type | None:
    """The standard library's spawn launcher (POSIX), reading its preparation data from
    :func:`_preparation_without_main` instead of the ``spawn`` module: the same code object
    with that one name bound differently, so nothing else of the launch changes. None where
    the launcher is another one or reads no such name: then the plain context is used."""
    if sys.platform == "win32":
        return None
    from multiprocessing import popen_spawn_posix, spawn

    launch = vars(popen_spawn_posix.Popen)["_launch"]
    code = launch.__code__
    reads = {"spawn", "get_preparation_data"} <= set(code.co_names)
    if not reads or code.co_freevars:
        return None
    scope = {**vars(popen_spawn_posix), "spawn": _SpawnModuleView(spawn)}
    rebound = types.FunctionType(code, scope, launch.__name__, launch.__defaults__)
    return type("PopenWithoutMain", (popen_spawn_posix.Popen,), {"_launch": rebound})


_POPEN = _popen_without_main()


class _SpawnWithoutMainProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        assert _POPEN is not None
        return _POPEN(process_obj)


class _SpawnWithoutMainContext(SpawnContext):
    """``spawn``, except that the new processes do not run the main module."""

    Process = _SpawnWithoutMainProcess
