"""One way to open a DuckDB connection, for every layer that uses DuckDB.

DuckDB prints a progress bar to the process's standard output once a query runs longer than
two seconds, even when stdout is a pipe or a file: in a library that corrupts the caller's
output (a CSV written to stdout, a JSON answer read by a script). Every connection trailscope
opens goes through :func:`connect`, which turns it off.
"""

from __future__ import annotations

from typing import Any

import duckdb


def connect(config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that never writes to stdout.

    :param config: database settings given to :func:`duckdb.connect`.
    """
    con = duckdb.connect(config=config or {})
    # A session setting: DuckDB refuses it in connect()'s config.
    con.execute("SET enable_progress_bar = false")
    return con
