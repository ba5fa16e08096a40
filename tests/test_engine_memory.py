"""The query engine keeps freed memory for the next query (trailscope.engines.memory)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from trailscope.engines import memory
from trailscope.engines.duckdb import DuckDBEngine

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Allocates 100 MB in 64 KiB blocks (below glibc's mmap threshold, so from the heap), frees
# them, and prints how many MB stay resident.
_HEAP_PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys
    from trailscope.engines.duckdb import DuckDBEngine

    def rss_mb():
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) // 1024 for l in fh if l.startswith("VmRSS:"))

    if sys.argv[1] == "engine":
        DuckDBEngine([]).close()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = rss_mb()
    blocks = [libc.malloc(64 * 1024) for _ in range(1600)]
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    for b in blocks:
        libc.free(b)
    print(rss_mb() - before)
    """
)


def _kept_after_free(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC, reason="the heap setting exists only in glibc")
def test_an_engine_makes_the_process_keep_freed_heap_memory() -> None:
    # Without an engine, glibc trims the freed 100 MB straight back to the kernel.
    assert _kept_after_free("plain") < 20
    assert _kept_after_free("engine") >= 90


def test_engine_connections_keep_duckdb_buffers() -> None:
    engine = DuckDBEngine([], threads=1)
    try:
        rows = dict(
            engine.con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('block_allocator_memory', 'threads')"
            ).fetchall()
        )
        cursor = engine.cursor()
        value = cursor.con.execute("SELECT current_setting('block_allocator_memory')").fetchone()
        cursor.close()
    finally:
        engine.close()
    assert rows == {"block_allocator_memory": "256.0 MiB", "threads": "1"}
    assert value == ("256.0 MiB",)


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    memory.keep_freed_heap.cache_clear()
    try:
        monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
        assert memory.keep_freed_heap() is False
        monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
        memory.keep_freed_heap.cache_clear()
        assert memory.keep_freed_heap() is GLIBC
    finally:
        memory.keep_freed_heap.cache_clear()
