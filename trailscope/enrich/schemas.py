"""The enrichment side tables, empty: what an engine shows before the first enrichment,
so a query that joins them works on every lake (and finds no names yet)."""

from __future__ import annotations

import pyarrow as pa

from trailscope.enrich import accounts, iptable


def empty_tables() -> dict[str, pa.Table]:
    """``ip_info`` and ``accounts`` with no rows."""
    return {
        iptable.TABLE: iptable.SCHEMA.empty_table(),
        accounts.TABLE: accounts.SCHEMA.empty_table(),
    }


_SPARK_TYPES = {"string": "STRING", "int64": "BIGINT", "double": "DOUBLE"}


def spark_ddl(schema: pa.Schema) -> str:
    """``schema`` as a Spark DDL string (the enrichment tables use three types only)."""
    return ", ".join(f"`{f.name}` {_SPARK_TYPES[str(f.type)]}" for f in schema)
