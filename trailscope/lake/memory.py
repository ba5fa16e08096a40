"""How ingest's committing process gives the memory it frees back to the system.

Arrow allocates with mimalloc, which keeps freed pages for a while before returning them, and
``release_unused`` (called after a rewrite or a merge) collects only the calling thread's pages:
buffers freed in Arrow's reader and writer threads stay resident. Beside the workers of a dense
run, the committing process frees large buffers again and again (a part rewritten without its
stored copies, a merge's row groups): what it kept added up to the peak of the process tree
(measured in docs/lake.md, "Dense days: memory"). The workers keep the default: returning their
pages at once saved 30 MB each but cost them CPU (each batch faults its pages in again).

mimalloc reads its options from the environment once, when pyarrow's library is loaded: the
setting has to be in place before the process first imports pyarrow, and is useless after.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

#: mimalloc's delay (milliseconds) before freed pages are returned to the system
PURGE_DELAY_VAR = "MIMALLOC_PURGE_DELAY"


@contextmanager
def purging_promptly() -> Iterator[None]:
    """An environment in which Arrow's allocator returns freed pages at once, for pyarrow
    loaded inside it (and processes started inside it). A delay the user set is kept; the
    environment is restored on leaving, so processes started later keep the default."""
    if PURGE_DELAY_VAR in os.environ:
        yield  # the user's own delay, read when pyarrow loads
        return
    os.environ[PURGE_DELAY_VAR] = "0"
    try:
        yield
    finally:
        os.environ.pop(PURGE_DELAY_VAR, None)


def return_freed_memory_promptly() -> bool:
    """Make Arrow's allocator in this process return freed pages at once; returns whether it
    will (False once pyarrow is loaded: the allocator has read its options then)."""
    if "pyarrow" in sys.modules:
        log.debug("pyarrow is already loaded: its allocator keeps its purge delay")
        return False
    with purging_promptly():
        import pyarrow  # noqa: F401  (loads mimalloc, which reads the variable now)
    return True
