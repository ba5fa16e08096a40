"""The Athena table over a lake: ``CREATE EXTERNAL TABLE`` with partition projection.

Columns and types come from the lake's own Arrow schema (:data:`FILE_SCHEMA`), so the table
can never drift from the files. Partitions are *projected* (computed from the table properties)
rather than registered, so a new day needs no crawler and no ``MSCK REPAIR TABLE``.

Two layouts, because Athena reads every object under a partition's folder:

* ``symlink`` (the default, and the safe one): each partition's location is a folder holding a
  ``symlink.txt`` that lists the partition's live Parquet files (Hive's
  ``SymlinkTextInputFormat``, the same mechanism Delta Lake uses for Athena). One PUT replaces
  a partition's list atomically, so a query sees a partition either before or after a commit,
  never a half-published batch nor both sides of a compaction.
* ``parts``: each partition's location is the folder of its Parquet files. Simpler, but only
  correct while that folder holds nothing but live parts (see docs/scale.md for what the writer
  must then guarantee).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from trailscope.decode.schema import FILE_SCHEMA, PARTITION
from trailscope.errors import TrailscopeError
from trailscope.lake.paths import EVENTS_DIR, TABLES_DIR

LAYOUTS = ("symlink", "parts")
#: Where the writer keeps one manifest per partition (symlink layout), under the lake root.
SYMLINK_DIR = "athena"
SYMLINK_FILE = "symlink.txt"
DEFAULT_TABLE = "cloudtrail"
PROJECTION_FORMAT = "yyyy-MM-dd"  # Java pattern of the event_date folder names

_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_SYMLINK_INPUT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
_TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def hive_type(t: pa.DataType) -> str:
    """The Hive/Athena DDL type of an Arrow type of the lake schema."""
    if pa.types.is_struct(t):
        fields = ",".join(f"{t.field(i).name}:{hive_type(t.field(i).type)}" for i in range(len(t)))
        return f"struct<{fields}>"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{hive_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{hive_type(t.key_type)},{hive_type(t.item_type)}>"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_floating(t):
        return "double"
    raise TypeError(f"no Hive type for {t}")


def check_name(kind: str, name: str) -> str:
    """Glue names are lowercase letters, digits and underscores; say so before AWS does."""
    if not _NAME.match(name):
        raise TrailscopeError(
            f"invalid {kind} name {name!r}",
            hint="use lowercase letters, digits and underscores (Athena lowercases names)",
        )
    return name


def normalize_uri(uri: str) -> str:
    """``s3://bucket/prefix/`` with exactly one trailing slash (Athena wants folders)."""
    if uri.startswith("s3:/") and not uri.startswith("s3://"):  # Path() collapses '//'
        uri = "s3://" + uri[len("s3:/") :]
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise TrailscopeError(
            f"Athena reads tables from S3, not from {uri!r}",
            hint="give the lake's S3 location, e.g. --location s3://bucket/prefix/",
        )
    return uri.rstrip("/") + "/"


def table_location(lake_uri: str, layout: str) -> str:
    base = normalize_uri(lake_uri)
    return base + (SYMLINK_DIR if _check_layout(layout) == "symlink" else EVENTS_DIR) + "/"


def location_template(lake_uri: str, layout: str) -> str:
    """``storage.location.template``: the folder of one partition, ``${event_date}`` inside."""
    return f"{table_location(lake_uri, layout)}{PARTITION}=${{{PARTITION}}}/"


def partition_location(template: str, day: str) -> str:
    """What Athena computes from the template for one partition value."""
    return template.replace(f"${{{PARTITION}}}", day)


def projection_properties(lake_uri: str, layout: str, first_day: str) -> dict[str, str]:
    """Partition projection: every day from the lake's first to today, no catalog partitions."""
    return {
        "projection.enabled": "true",
        f"projection.{PARTITION}.type": "date",
        f"projection.{PARTITION}.format": PROJECTION_FORMAT,
        f"projection.{PARTITION}.range": f"{first_day},NOW",
        f"projection.{PARTITION}.interval": "1",
        f"projection.{PARTITION}.interval.unit": "DAYS",
        "storage.location.template": location_template(lake_uri, layout),
        "parquet.compression": "ZSTD",
        "classification": "parquet",
    }


def create_database_ddl(database: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS `{check_name('database', database)}`"


def create_table_ddl(
    lake_uri: str,
    *,
    database: str,
    first_day: str,
    table: str = DEFAULT_TABLE,
    layout: str = "symlink",
    columns: Iterable[pa.Field] = FILE_SCHEMA,
) -> str:
    """The ``CREATE EXTERNAL TABLE`` statement for a lake at ``lake_uri`` (an S3 folder)."""
    check_name("database", database)
    check_name("table", table)
    _check_day(first_day)
    cols = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in columns)
    if layout == "symlink":
        storage = (
            f"ROW FORMAT SERDE '{_PARQUET_SERDE}'\n"
            f"STORED AS INPUTFORMAT '{_SYMLINK_INPUT}'\n"
            f"OUTPUTFORMAT '{_TEXT_OUTPUT}'"
        )
    else:
        storage = "STORED AS PARQUET"
    props = ",\n".join(
        f"  '{k}' = '{v}'" for k, v in projection_properties(lake_uri, layout, first_day).items()
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{cols}\n)\n"
        f"PARTITIONED BY (`{PARTITION}` string)\n"
        f"{storage}\n"
        f"LOCATION '{table_location(lake_uri, layout)}'\n"
        f"TBLPROPERTIES (\n{props}\n)"
    )


def side_table_ddl(lake_uri: str, *, database: str, name: str, schema: pa.Schema) -> str:
    """The ``CREATE EXTERNAL TABLE`` statement for side table ``name`` of a lake at
    ``lake_uri``: its folder holds the committed version (and, for the moment between a new
    version's publication and the old one's retirement, both)."""
    check_name("database", database)
    check_name("table", name)
    cols = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in schema)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{name}` (\n{cols}\n)\n"
        f"STORED AS PARQUET\n"
        f"LOCATION '{normalize_uri(lake_uri)}{TABLES_DIR}/{name}/'"
    )


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise TrailscopeError(
            f"unknown layout {layout!r}", hint="use one of: " + ", ".join(LAYOUTS)
        )
    return layout


def _check_day(day: str) -> None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise TrailscopeError(f"not a day: {day!r}", hint="write it as YYYY-MM-DD")
