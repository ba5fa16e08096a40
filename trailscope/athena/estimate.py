"""What a query would cost on Athena, from the lake's own metadata, without running it.

Athena bills the compressed bytes it reads from S3 ($5 per TB, at least 10 MB per query,
rounded up to the megabyte). For Parquet that is, per table scan of the query:

* only the partitions left after pruning (the ``event_date`` bounds that
  :func:`trailscope.sql.translate` derives from time conditions);
* only the column chunks of the columns the scan uses (nested fields such as
  ``useridentity.arn`` read only their own leaf columns);
* only the row groups whose ``eventtime`` min/max statistics overlap the scan's time range;
* plus each file's footer.

All of that is in the Parquet footers, which are small and read locally: nothing is sent to
AWS. The estimate ignores other predicate pushdown (Athena may skip more row groups), so for a
query on eventtime ranges it is close, and otherwise an upper bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from trailscope.athena.ddl import hive_type
from trailscope.decode.schema import FILE_SCHEMA, PARTITION
from trailscope.sql import COMPAT_COLUMNS, TABLE, translate

#: Athena's price per TB scanned (us-east-1 and most regions), and its billing rules.
DOLLARS_PER_TB = 5.0
TB = 1024**4
MIN_BILLED_BYTES = 10 * 1024**2
BILLING_STEP = 1024**2

_NESTING = {"list", "element", "key_value"}  # Parquet levels of lists and maps


@dataclass
class Scan:
    """One read of the lake table inside the query."""

    columns: list[str]  # column paths, e.g. eventname, useridentity.arn
    partitions: list[str]
    time_range: tuple[str | None, str | None]
    bytes: int = 0
    files: int = 0
    row_groups: int = 0
    row_groups_total: int = 0


@dataclass
class ScanEstimate:
    bytes: int
    billed_bytes: int
    dollars: float
    partitions: int
    partitions_total: int
    files: int
    scans: list[Scan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["scans"] = [s.__dict__ for s in self.scans]
        return out


def billed(bytes_read: int) -> int:
    """Bytes Athena bills for a query that read ``bytes_read``."""
    rounded = math.ceil(bytes_read / BILLING_STEP) * BILLING_STEP
    return max(rounded, MIN_BILLED_BYTES)


def dollars(bytes_read: int) -> float:
    return billed(bytes_read) / TB * DOLLARS_PER_TB


def estimate_scan(
    files: Sequence[str | Path], sql: str, *, params: dict[str, Any] | None = None
) -> ScanEstimate:
    """Estimate an Athena-dialect query over the lake's live files (``Lake.files()``)."""
    translated = translate(sql, dialect="athena", params=params)
    tree = sqlglot.parse_one(translated.sql, read="trino")
    footers = [_footer(str(f)) for f in files]
    all_days = sorted({f.partition for f in footers})
    scans = [
        _plan_scan(select, cols, params or {}, all_days) for select, cols in _table_scans(tree)
    ]
    touched: set[str] = set()
    for scan in scans:
        wanted = set(scan.partitions)
        touched |= wanted
        leaves = _leaf_columns(scan.columns)
        for foot in footers:
            if foot.partition not in wanted:
                continue
            size, used, total = foot.bytes_for(leaves, scan.time_range)
            scan.bytes += size
            scan.files += 1
            scan.row_groups += used
            scan.row_groups_total += total
    total_bytes = sum(s.bytes for s in scans)
    return ScanEstimate(
        bytes=total_bytes,
        billed_bytes=billed(total_bytes),
        dollars=dollars(total_bytes),
        partitions=len(touched),
        partitions_total=len(all_days),
        files=sum(s.files for s in scans),
        scans=scans,
    )


# --------------------------------------------------------------------------- which scans


@cache
def _schema() -> dict[str, object]:
    cols = {f.name: exp.DataType.build(hive_type(f.type), dialect="hive") for f in FILE_SCHEMA}
    cols[PARTITION] = exp.DataType.build("varchar")
    for name in COMPAT_COLUMNS:
        cols[name] = exp.DataType.build("varchar")
    return {TABLE: cols}


def _table_scans(tree: exp.Expr) -> list[tuple[exp.Select, list[str]]]:
    """(select, column paths) for every read of the lake table."""
    tree = qualify(
        tree,
        schema=_schema(),
        dialect="trino",
        validate_qualify_columns=False,
        quote_identifiers=False,
    )
    out = []
    for scope in traverse_scope(tree):
        for alias, (_node, source) in scope.selected_sources.items():
            if not (isinstance(source, exp.Table) and source.name == TABLE):
                continue
            paths: set[str] = set()
            for col in scope.columns:
                if col.table == alias:
                    paths.update(_source_paths(col))
            if isinstance(scope.expression, exp.Select):
                out.append((scope.expression, sorted(paths)))
    return out


def _source_paths(col: exp.Column) -> list[str]:
    """The stored column path a reference reads (compat columns read what they derive from)."""
    parts = [col.name]
    node: exp.Expr = col
    while isinstance(node.parent, exp.Dot) and node.parent.this is node:
        node = node.parent
        parts.append(node.expression.name)
    name = parts[0].lower()
    if name == PARTITION:
        return []
    if name in COMPAT_COLUMNS:
        derived = sqlglot.parse_one(COMPAT_COLUMNS[name], read="duckdb")
        return [c.name for c in derived.find_all(exp.Column) if c.name != PARTITION]
    return [".".join(p.lower() for p in parts)]


def _plan_scan(
    select: exp.Select,
    columns: list[str],
    params: dict[str, Any],
    all_days: list[str],
) -> Scan:
    where = select.args.get("where")
    conds = _conjuncts(where.this) if where is not None else []
    days = [d for d in all_days if all(_keeps(c, d, PARTITION, params) for c in conds)]
    return Scan(columns=columns, partitions=days, time_range=_time_range(conds, params))


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


def _value(node: exp.Expr, params: dict[str, Any]) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if isinstance(node, exp.Placeholder) and isinstance(params.get(node.name), str):
        return params[node.name]
    return None


def _is_col(node: exp.Expr, name: str) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() == name


_CMP: dict[type[exp.Expr], str] = {
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.EQ: "=",
}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


def _comparison(cond: exp.Expr, column: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """``[(op, value)]`` when ``cond`` compares ``column`` with a known string."""
    if isinstance(cond, exp.Between) and _is_col(cond.this, column):
        low, high = _value(cond.args["low"], params), _value(cond.args["high"], params)
        return [(op, v) for op, v in ((">=", low), ("<=", high)) if v is not None]
    if isinstance(cond, exp.In) and _is_col(cond.this, column):
        values = [_value(v, params) for v in cond.expressions]
        if values and all(v is not None for v in values):
            return [("in", "\x00".join(v for v in values if v is not None))]
        return []
    op = _CMP.get(type(cond))
    if op is None:
        return []
    left, right = cond.this, cond.expression
    if _is_col(left, column) and (v := _value(right, params)) is not None:
        return [(op, v)]
    if _is_col(right, column) and (v := _value(left, params)) is not None:
        return [(_FLIPPED[op], v)]
    return []


def _keeps(cond: exp.Expr, value: str, column: str, params: dict[str, Any]) -> bool:
    for op, bound in _comparison(cond, column, params):
        if op == "in":
            if value not in bound.split("\x00"):
                return False
        elif not _compare(value, op, bound):
            return False
    return True


def _compare(a: str, op: str, b: str) -> bool:
    return {
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
        "=": a == b,
    }[op]


def _time_range(conds: list[exp.Expr], params: dict[str, Any]) -> tuple[str | None, str | None]:
    """Bounds on the ISO ``eventtime`` text (compares in time order), for row-group pruning."""
    low: str | None = None
    high: str | None = None
    for cond in conds:
        for op, v in _comparison(cond, "eventtime", params):
            if op in (">", ">=", "=") and (low is None or v > low):
                low = v
            if op in ("<", "<=", "=") and (high is None or v < high):
                high = v
    return low, high


# --------------------------------------------------------------------------- the footers


def _leaf_columns(paths: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(paths)))


@dataclass
class _Footer:
    path: str
    partition: str
    footer_bytes: int
    #: per row group: (eventtime min, eventtime max, {leaf path: compressed bytes})
    row_groups: list[tuple[str | None, str | None, dict[str, int]]]

    def bytes_for(
        self, paths: tuple[str, ...], time_range: tuple[str | None, str | None]
    ) -> tuple[int, int, int]:
        """(bytes read, row groups read, row groups) for the column paths and time range."""
        low, high = time_range
        size, used = self.footer_bytes, 0
        for tmin, tmax, chunks in self.row_groups:
            if low is not None and tmax is not None and tmax < low:
                continue
            if high is not None and tmin is not None and tmin > high:
                continue
            used += 1
            size += sum(n for leaf, n in chunks.items() if _selected(leaf, paths))
        return size, used, len(self.row_groups)


def _selected(leaf: str, paths: tuple[str, ...]) -> bool:
    return any(leaf == p or leaf.startswith(p + ".") for p in paths)


def _footer(path: str) -> _Footer:
    """The footer of one file (a path, or a URI such as s3://, read with pyarrow's fs)."""
    if "://" in path:
        fs, inner = pafs.FileSystem.from_uri(path)
        with fs.open_input_file(inner) as handle:
            meta = pq.ParquetFile(handle).metadata
    else:
        meta = pq.ParquetFile(path).metadata
    partition = _partition_of(path)
    time_idx = None
    groups = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        chunks: dict[str, int] = {}
        tmin = tmax = None
        for j in range(rg.num_columns):
            col = rg.column(j)
            leaf = ".".join(p for p in col.path_in_schema.split(".") if p not in _NESTING)
            chunks[leaf] = chunks.get(leaf, 0) + col.total_compressed_size
            if leaf == "eventtime":
                time_idx = j
        if time_idx is not None:
            stats = rg.column(time_idx).statistics
            if stats is not None and stats.has_min_max:
                tmin, tmax = stats.min, stats.max
        groups.append((tmin, tmax, chunks))
    return _Footer(path, partition, meta.serialized_size + 8, groups)


def _partition_of(path: str) -> str:
    marker = f"{PARTITION}="
    for part in Path(path).parts:
        if part.startswith(marker):
            return part[len(marker) :]
    return ""
