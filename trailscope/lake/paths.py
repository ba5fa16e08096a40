"""Where things live inside a lake: names shared by the table format and the engines that
read it (so an engine never imports the code that writes the lake to learn a folder's name)."""

from __future__ import annotations

META_DIR = "_trailscope"
LOG_DIR = f"{META_DIR}/log"
FORMAT_FILE = f"{META_DIR}/lake.json"
CHECKPOINT_DIR = f"{META_DIR}/checkpoints"
LAST_CHECKPOINT = f"{META_DIR}/last_checkpoint.json"
#: Written by 'trailscope athena setup' with the symlink layout: {"location": "s3://..."}.
ATHENA_SETTINGS = f"{META_DIR}/athena.json"
#: How many days of events the lake keeps: {"days": N} (absent: all).
RETENTION_FILE = f"{META_DIR}/retention.json"
#: Settings every ingest applies: {"ingest": {"exclude_sources": [...], "where": ..., ...}}.
SETTINGS_FILE = f"{META_DIR}/settings.json"
#: The events table's Hive-partitioned Parquet parts.
EVENTS_DIR = "events"
#: Staged files end so (and start with a dot): hidden from readers that glob the folder.
TMP_SUFFIX = ".tmp"


def staged_path(path: str) -> str:
    """Where a part waits for its commit: hidden from every reader that globs the folder."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}{TMP_SUFFIX}"


#: Side tables beside the events: ``tables/<name>/v-<id>.parquet``, one file per version.
TABLES_DIR = "tables"
#: The side tables a lake may hold (names only: what each means belongs to its owner). A name
#: here is what every engine calls the table.
SIDE_TABLES = frozenset(
    {"cloudtrail_validation", "findings", "suppressions", "alerts", "accounts", "ip_info"}
)
