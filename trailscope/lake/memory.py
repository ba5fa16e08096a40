"""How ingest's committing process gives the memory it frees back to the system.

Arrow allocates with mimalloc, which keeps freed pages for a while before returning them, and
``release_unused`` (called after a rewrite or a merge) collects only the calling thread's pages:
buffers freed in Arrow's reader and writer threads stay resident. Beside the workers of a dense
run, the committing process frees large buffers again and again (a part rewritten without its
stored copies, a merge's row groups), so what it kept added up to the peak of the process tree
(measured in docs/lake.md, "Dense days: memory").

mimalloc reads its options from the environment once, when pyarrow's library is loaded: the
setting has to be in place before the process first imports pyarrow, and is useless after.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

#: mimalloc's delay (milliseconds) before freed pages are returned to the system
PURGE_DELAY_VAR = "MIMALLOC_PURGE_DELAY"


def return_freed_memory_promptly() -> bool:
    """Ask Arrow's allocator in this process to return freed pages at once; returns whether
    it will (False once pyarrow is loaded: the allocator has read its options then).

    A delay the user set is kept. The environment is restored right after pyarrow is loaded,
    so processes started later (ingest's workers, which free their batch's buffers in one
    thread and reuse them at once) keep the allocator's default."""
    if "pyarrow" in sys.modules:
        log.debug("pyarrow is already loaded: its allocator keeps its purge delay")
        return False
    if PURGE_DELAY_VAR in os.environ:
        return True  # the user's own delay, read when pyarrow loads
    os.environ[PURGE_DELAY_VAR] = "0"
    try:
        import pyarrow  # noqa: F401  (loads mimalloc, which reads the variable now)
    finally:
        del os.environ[PURGE_DELAY_VAR]
    return True
