"""Lock a DuckDB connection down to reading the lake's own files.

The workbench runs SQL typed into a browser. :func:`trailscope.sql.translate` already refuses
anything but one SELECT; this is the second wall, in the engine itself, so that a statement
that slipped through the parser still cannot read or write other files, reach the network,
attach databases or install and load extensions:

* ``allowed_paths`` is exactly the lake's live Parquet files, then ``enable_external_access``
  goes off: every other path (``read_csv('/etc/passwd')``, ``COPY ... TO``, ``ATTACH 'x.db'``,
  ``http://...``) is refused by DuckDB's file system layer;
* extensions are neither installed nor loaded on demand;
* ``lock_configuration`` makes every later ``SET`` fail, so none of it can be undone.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb


def _list_literal(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def lock_down(con: duckdb.DuckDBPyConnection, readable: Sequence[str]) -> None:
    """Allow reading ``readable`` (and nothing else on disk or the network), for good."""
    if readable:
        con.execute(f"SET allowed_paths = {_list_literal(readable)}")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET lock_configuration = true")
