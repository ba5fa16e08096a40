"""The three side tables findings live in, and one commit that changes several of them.

``findings`` (one row per finding, updated in place), ``suppressions`` (what not to alert on)
and ``alerts`` (the outbox: one row per alert and destination, pending until delivered) are
side tables of the lake, so they are queryable beside ``cloudtrail`` and change by commits.
Recording findings and queueing their alerts is one commit of two tables: a crash leaves
either both or neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)

FINDINGS = "findings"
SUPPRESSIONS = "suppressions"
ALERTS = "alerts"

#: Seconds a change waits for a running local writer (an ingest) before it is refused.
LOCK_WAIT = 60.0

_S = pa.string()
_I = pa.int64()

FINDINGS_SCHEMA = pa.schema(
    [
        ("finding_id", _S),
        ("rule_id", _S),
        ("title", _S),
        ("severity", _S),
        ("status", _S),
        ("first_seen", _S),
        ("last_seen", _S),
        ("principal", _S),
        ("source_ip", _S),
        ("account", _S),
        ("region", _S),
        ("target", _S),
        ("outcome", _S),
        ("detail", _S),
        ("tactic", _S),
        ("technique", _S),
        ("event_count", _I),
        ("event_ids", pa.list_(_S)),
        ("group_key", _S),
        ("detected_at", _S),
        ("updated_at", _S),
        ("updates", _I),
        ("status_at", _S),
        ("note", _S),
        ("suppression_id", _S),
        ("alert_seq", _I),
        ("alerted_severity", _S),
        ("alerted_at", _S),
    ]
)

SUPPRESSIONS_SCHEMA = pa.schema(
    [
        ("suppression_id", _S),
        ("rule", _S),
        ("account", _S),
        ("principal", _S),
        ("source_ip", _S),
        ("created_at", _S),
        ("expires_at", _S),
        ("removed_at", _S),
        ("note", _S),
    ]
)

ALERTS_SCHEMA = pa.schema(
    [
        ("finding_id", _S),
        ("seq", _I),
        ("destination", _S),
        ("reason", _S),
        ("status", _S),  # pending | sending (claimed by a delivery) | sent | cancelled
        ("queued_at", _S),
        ("attempts", _I),
        ("next_attempt", _S),
        ("last_error", _S),
        ("sent_at", _S),
        ("claimed_by", _S),  # host:pid:token of the delivery sending it
        ("claimed_at", _S),
    ]
)

SCHEMAS = {FINDINGS: FINDINGS_SCHEMA, SUPPRESSIONS: SUPPRESSIONS_SCHEMA, ALERTS: ALERTS_SCHEMA}

Rows = list[dict[str, Any]]
#: A change to several tables: their current rows, by name -> the new rows of those it changes.
TablesChange = Callable[[dict[str, Rows]], dict[str, Rows]]


def iso(when: datetime) -> str:
    """The one text form of a time in these tables (sorts and compares as text)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """A time written by :func:`iso` (or an eventtime) as an aware datetime."""
    return datetime.strptime(text[:19].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def utcnow(now: datetime | None = None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def to_rows(table: pa.Table | None, name: str) -> Rows:
    """A stored version as rows with every column of today's schema (missing ones None)."""
    if table is None:
        return []
    names = SCHEMAS[name].names
    return [{n: row.get(n) for n in names} for row in table.to_pylist()]


def to_table(rows: Rows, name: str) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMAS[name])


def read_rows(lake: Any, name: str) -> Rows:
    """The committed rows of one of the tables (none before the first write)."""
    return read_tables(lake, [name])[name]


def read_tables(lake: Any, names: Sequence[str]) -> dict[str, Rows]:
    """The committed rows of several tables, as of one commit. On an S3 lake a version
    retired by another writer meanwhile is caught up with and read again, not an error."""
    from trailscope.lake import tables
    from trailscope.lake.transaction import read_retrying

    state = lake.state()

    def read() -> dict[str, Rows]:
        return {name: to_rows(tables.read_table(lake.storage, state, name), name) for name in names}

    return read_retrying(lake.manifest, state, read)


def commit_tables(lake: Any, names: Sequence[str], change: TablesChange, *, operation: str) -> None:
    """Apply ``change`` to the tables ``names`` and commit the result as one commit.

    Like ``Lake.update_table`` but for several tables at once, so a finding and the alerts it
    queues are committed together. ``change`` may run more than once (after losing a race to
    another writer on S3, it runs again on that writer's versions), so it must only compute.
    A local lake is changed under its writer lock.
    """
    from trailscope.lake import tables
    from trailscope.lake.transaction import Transaction, read_retrying

    for name in names:
        tables.check_name(name)
    lake.storage.prepare()
    lake.manifest.initialize()
    with lake.writer_lock(operation, wait=LOCK_WAIT):
        manifest = lake.manifest
        state = manifest.load()
        lake._recover(state)
        if not manifest.storage.is_local:
            manifest.refresh(state)

        def _read(current_state: Any, name: str) -> pa.Table | None:
            def read() -> pa.Table | None:
                return tables.read_table(manifest.storage, current_state, name)

            return read_retrying(manifest, current_state, read)

        def apply(tx: Transaction, current_state: Any) -> bool:
            current = {name: to_rows(_read(current_state, name), name) for name in names}
            new = change(current)
            for name, rows in new.items():
                if name not in names:
                    raise ValueError(f"a change wrote table {name} it did not ask for")
                tx.put_table(tables.stage_table(manifest.storage, name, to_table(rows, name)))
            return True

        tx = Transaction(manifest, state, operation, info={"tables": list(names)}, rebase=apply)
        try:
            apply(tx, state)
        except BaseException:
            tx.abort()
            raise
        if tx.is_empty():
            tx.abort()
            return
        tx.commit()
        log.debug("side tables %s committed (%s)", ", ".join(names), operation)
