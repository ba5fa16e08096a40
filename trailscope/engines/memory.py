"""Keep freed memory for the next query instead of handing it back to the kernel at once.

A query that returns many rows allocates hundreds of MB (sort runs, Arrow buffers) and frees
them when done. By default DuckDB's buffers and glibc's heaps go back to the kernel as soon as
they are free, so the next query faults every page in again, zeroed: on a million-row answer,
a quarter of the CPU time was the kernel clearing pages. Two bounded settings avoid most of it
(measured on 1M events: events-in-window over the whole lake 602-625 -> 432-438 ms, over one
day 129-132 -> 91-95 ms, and a lower peak resident size):

* DuckDB's block allocator keeps up to :data:`BLOCK_ALLOCATOR_MEMORY` of its own buffers;
* glibc keeps :data:`TOP_PAD` bytes at the top of each heap when it shrinks one (and grows
  by that much, which costs address space, not memory, until it is used).
"""

from __future__ import annotations

import ctypes
import functools
import platform

#: DuckDB buffers (256 KiB blocks) kept for reuse; never returned once used. 512 MiB was no
#: faster on 1M events, 128 MiB left a third of the page faults.
BLOCK_ALLOCATOR_MEMORY = "256MiB"
#: glibc's M_TOP_PAD. 64 MiB halved the faults; 256 MiB removed nearly all of them.
TOP_PAD = 256 * 1024 * 1024
_M_TOP_PAD = -2  # from glibc's malloc.h


def duckdb_config() -> dict[str, str]:
    """Connection settings for an engine (also given to benchmark baselines, to compare
    engines on equal terms)."""
    return {"block_allocator_memory": BLOCK_ALLOCATOR_MEMORY}


@functools.cache
def keep_freed_heap() -> bool:
    """Set glibc's top pad once per process; False where the C library is not glibc (musl,
    macOS, Windows), whose allocators behave differently and are left as they are."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        # The process's own symbols, libc's among them: find_library would run ldconfig.
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(ctypes.c_int(_M_TOP_PAD), ctypes.c_int(TOP_PAD)))
    except (OSError, AttributeError):
        return False
