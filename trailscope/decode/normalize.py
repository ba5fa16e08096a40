"""Map events onto THE schema, fast when the input is ordinary, tolerant when it is not.

Two paths produce identical columns:

* the **fast path** decodes standard compact ``{"Records": [...]}`` files with a typed msgspec
  decoder (free-form objects pass through as raw bytes and are never built as Python objects)
  and converts a whole batch of files to Arrow column by column, so per-call costs are paid once
  per batch rather than once per 5-minute file. It refuses anything unusual (an unknown field, a
  value of the wrong type), which sends that file to
* the **slow path**, which walks each event in Python, matches keys case-insensitively, coerces
  wrong types where that is safe, keeps unknown fields in the ``extra`` column, and quarantines
  single events (no usable ``eventTime``, too large) without losing the rest of the file.

Keeping the strict fast path honest is what lets it be fast: it never has to decide anything.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate, filterfalse
from operator import eq
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from zlib_ng.zlib_ng import crc32

from trailscope.decode import records
from trailscope.decode.schema import (
    BATCH_SCHEMA,
    BY_JSON_NAME,
    BY_LOWER_NAME,
    EVENT_FIELDS,
    EVENTTIME_TS,
    EXTRA,
    FILE_SCHEMA,
    SOURCEKEY,
    Field,
    Kind,
    arrow_type,
    children_by_lower,
)

#: CloudTrail's own limit is far below this; anything larger is not an event we can store sanely.
MAX_EVENT_BYTES = 16 * 1024 * 1024
#: What the fast decoder gives for an absent nested or free-form field: empty raw text instead
#: of None (JSON text is never empty), so a column of them is all raw texts, hashed, compared
#: or joined in C-level passes without a Python-level test for None per value.
_ABSENT = msgspec.Raw(b"")
_ABSENT_CRC = crc32(b"")
#: Records converted to Arrow at a time: column-wise passes over more than a few thousand
#: structs fall out of CPU cache (measured: 2k events/chunk is about 30 % faster than 8k).
FAST_CHUNK_EVENTS = 2048
#: A chunk's texts are cut by int32 offsets: it is also built once its files hold this much.
_MAX_CHUNK_TEXT = 1 << 30


@dataclass
class ObjectOutcome:
    """What one source object turned into (its rows live in the batch table)."""

    key: str
    events: int = 0
    is_digest: bool = False
    #: (event position or None for the whole object, one-line reason)
    quarantined: list[tuple[int | None, str]] = field(default_factory=list)
    unknown_fields: int = 0
    coerced_values: int = 0
    fast_path: bool = False

    @property
    def rejected(self) -> bool:
        """The whole object is unusable (as opposed to some events in it)."""
        return any(pos is None for pos, _ in self.quarantined)


@dataclass
class DecodeResult:
    """Rows of a batch of objects (BATCH_SCHEMA) and one outcome per object, in input order."""

    table: pa.Table
    outcomes: list[ObjectOutcome]

    @property
    def events(self) -> int:
        return self.table.num_rows


def decode_object(key: str, data: bytes) -> DecodeResult:
    """Convenience for one object; ingest decodes in batches to share per-call costs."""
    return decode_batch([(key, data)])


def decode_batch(
    items: list[tuple[str, bytes]], nested: NestedValues | None = None
) -> DecodeResult:
    """Bytes of many source objects -> one normalized table plus per-object outcomes.

    Ordinary trail files go through the fast path together; anything else is handled alone by
    the tolerant path. Calls that pass the same ``nested`` share the work on nested values that
    repeat from one call to the next (the same sessions and TLS clients call all day); when it
    is ``deferred``, the table holds their positions, for ``nested.materialize``.
    """
    nested = nested if nested is not None else NestedValues()
    outcomes = [ObjectOutcome(key) for key, _ in items]
    parts: list[_Part] = []
    chunk = _FastChunk(nested)

    def flush_fast() -> None:
        nonlocal chunk
        if chunk.rows:
            parts.extend(chunk.parts())
            chunk = _FastChunk(nested)

    for outcome, (_, data) in zip(outcomes, items, strict=True):
        try:
            text = records.gunzip_if_needed(data)
        except records.NotCloudTrail as exc:
            outcome.quarantined.append((None, str(exc)))
            continue
        if _fast_path_applies(text) and chunk.add(outcome, text):
            if chunk.full:
                flush_fast()
            continue
        part = _slow_decode(text, outcome)
        if part is not None:
            parts.append(part)
    flush_fast()
    tables = [_finish(part) for part in parts]
    if nested.deferred:
        tables = [nested.adopt(t) for t in tables]
    table = pa.concat_tables(tables) if tables else BATCH_SCHEMA.empty_table()
    return DecodeResult(table, outcomes)


@dataclass
class _Part:
    """Rows from one or more objects: runs of (owner, the rows' positions inside it)."""

    table: pa.Table | None = None
    spans: list[tuple[ObjectOutcome, Sequence[int]]] = field(default_factory=list)

    def add(self, outcome: ObjectOutcome, positions: Sequence[int]) -> None:
        if positions:
            self.spans.append((outcome, positions))

    def owners(self) -> list[tuple[ObjectOutcome, int]]:
        """(owner, position in its object) of each row: only for the rare row-by-row path."""
        return [(owner, pos) for owner, positions in self.spans for pos in positions]


def _slow_decode(text: bytes, outcome: ObjectOutcome) -> _Part | None:
    try:
        docs = records.parse_json_documents(text)
    except records.NotCloudTrail as exc:
        outcome.quarantined.append((None, str(exc)))
        return None
    found = records.unwrap(docs)
    outcome.is_digest = found.is_digest
    if not found.events:
        if found.is_digest or _is_empty_records(docs):
            return None  # digests are skipped by kind; an empty log file is simply empty
        reason = _no_events_reason(found.rejects)
        outcome.quarantined.append((None, reason))
        return None
    outcome.quarantined.extend(found.rejects)
    check_size = len(text) > MAX_EVENT_BYTES
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for pos, event in enumerate(found.events):
        if check_size and len(orjson.dumps(event)) > MAX_EVENT_BYTES:
            outcome.quarantined.append((pos, f"event larger than {MAX_EVENT_BYTES >> 20} MB"))
            continue
        row, unknown, coerced = normalize_event(event)
        outcome.unknown_fields += unknown
        outcome.coerced_values += coerced
        rows.append(row)
        positions.append(pos)
    if not rows:
        return None
    # Built plain, then encoded: pyarrow's row-wise builder leaves dictionary indices under
    # null structs that point nowhere.
    plain = pa.Table.from_pylist(rows, schema=_STORED_ROWS)
    part = _Part(plain.cast(_BATCH_ROWS))
    part.add(outcome, positions)
    return part


def _no_events_reason(rejects: list[tuple[int, str]]) -> str:
    if not rejects:
        return "no CloudTrail events found"
    if len(rejects) == 1:
        return rejects[0][1]
    return f"no CloudTrail events found in {len(rejects)} items; first: {rejects[0][1]}"


def _is_empty_records(docs: list[Any]) -> bool:
    return all(isinstance(d, dict) and d.get("Records") == [] for d in docs)


# --------------------------------------------------------------------------- eventTime


_TIME_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def parse_event_time(value: str | None) -> datetime | None:
    """ISO-8601 and the common 'YYYY-MM-DD HH:MM:SS[.fff]' export form; naive means UTC."""
    if not value:
        return None
    m = _TIME_RE.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= timedelta(minutes=sign * (int(digits[:2]) * 60 + int(digits[2:])))
    return ts


_UTC_MICROS = pa.timestamp("us", tz="UTC")


def _utc_times(times: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """CloudTrail's ``YYYY-MM-DDTHH:MM:SSZ`` as timestamps in one pass, or None when some time
    has another form (the caller then reads each with :func:`parse_event_time`).

    Arrow's ISO-8601 cast is about 4x faster than ``strptime`` (which calls the C library per
    value and rolls 30 February over into March), but it accepts more forms than the
    one-by-one reading, such as minutes without seconds. Of the forms it accepts, 20
    characters can only be a date, ``T`` or a space, the time to the second and ``Z``, which
    both read alike; so it is used only when every time has that length."""
    lengths = pc.min_max(pc.binary_length(times)).as_py()
    if lengths["min"] == lengths["max"] == 20:
        try:
            return times.cast(_UTC_MICROS)
        except pa.ArrowInvalid:
            pass
    return None


def _finish(part: _Part) -> pa.Table:
    """Add the helper columns; quarantine events whose time cannot place them in a partition."""
    table = part.table
    assert table is not None
    times = table.column("eventtime")
    ts = _utc_times(times)
    keep: list[bool] | None = None
    if ts is None or ts.null_count:
        # Rare: other formats, or no usable time at all. Decide row by row.
        owners = part.owners()
        raw_times = times.to_pylist()
        fixed = [None] * len(raw_times) if ts is None else ts.to_pylist()
        keep = []
        for i, value in enumerate(fixed):
            if value is None:
                fixed[i] = parse_event_time(raw_times[i])
            keep.append(fixed[i] is not None)
            if fixed[i] is None:
                reason = (
                    "event without eventTime"
                    if not raw_times[i]
                    else f"unparseable eventTime {raw_times[i][:40]!r}"
                )
                owner, pos = owners[i]
                owner.quarantined.append((pos, reason))
                owner.events -= 1
        ts = pa.array(fixed, _UTC_MICROS)
    # The source key of each row: one dictionary entry per object, spread by runs (no
    # per-row Python objects).
    spread = pc.run_end_decode(
        pa.RunEndEncodedArray.from_arrays(
            pa.array(list(accumulate(len(p) for _, p in part.spans)), pa.int32()),
            pa.array(range(len(part.spans)), pa.int32()),
        )
    )
    keys = pa.DictionaryArray.from_arrays(
        spread, pa.array([owner.key for owner, _ in part.spans], pa.string())
    )
    table = table.append_column(BATCH_SCHEMA.field(EVENTTIME_TS), ts)
    table = table.append_column(BATCH_SCHEMA.field(SOURCEKEY), keys)
    for owner, positions in part.spans:
        owner.events += len(positions)
    if keep is not None and not all(keep):
        table = table.filter(pa.array(keep))
    return table


# --------------------------------------------------------------------------- fast path


def _fast_path_applies(text: bytes) -> bool:
    """Only compact trail files of sane size: pretty-printed raw JSON would not be compact."""
    if not text.startswith(b'{"Records":') or len(text) > MAX_EVENT_BYTES:
        return False
    newline = text.find(b"\n")
    return newline == -1 or not text[newline:].strip()


class NestedValues:
    """The distinct nested values (``userIdentity``, ``resources``, ``tlsDetails``,
    ``addendum``) met so far, once each: decoded, and built into Arrow.

    They repeat heavily: one role session or one TLS client calls many times. The file decoder
    therefore keeps each as raw bytes, and only the first occurrence of each distinct text is
    decoded and validated; a chunk's column is then a ``take`` from the values built so far.
    Identical bytes decode to identical values, so this is exactly as strict as decoding every
    occurrence. Kept for a whole worker batch rather than one chunk, a value is built once
    instead of once in each of the chunks it appears in (on the 1M trail, a batch has half as
    many distinct identities as its chunks together, and a quarter as many resources and TLS
    details). ``deferred``: chunks hold only the positions, which the sort moves as plain
    integers; :meth:`materialize` puts the values in place once, just before writing (a
    struct of 26 fields costs about 0.6 µs per row to copy).
    """

    def __init__(self, *, deferred: bool = False) -> None:
        #: per nested field: CRC-32 of a distinct raw text -> position in its values (None for
        #: JSON null and for an absent field), and the first text met with that CRC
        #: (an absent field is the empty text, with its CRC)
        self.seen: dict[int, dict[int, int | None]] = {i: {_ABSENT_CRC: None} for i in _NESTED}
        self.first: dict[int, dict[int, bytes]] = {i: {_ABSENT_CRC: b""} for i in _NESTED}
        #: fields where two texts shared a CRC: distinct raw text -> position
        self.by_text: dict[int, dict[bytes, int | None]] = {}
        #: decoded values not yet built into ``built``, and how many values exist in all
        self.pending: dict[int, list[Any]] = {i: [] for i in _NESTED}
        self.count: dict[int, int] = dict.fromkeys(_NESTED, 0)
        self.built: dict[int, pa.Array | None] = dict.fromkeys(_NESTED)
        #: tables carry each nested value as its position (int32) until :meth:`materialize`
        self.deferred = deferred

    def positions(self, i: int, joined: bytes, lengths: list[int]) -> pa.Array:
        """Each value's position among the distinct values of field ``i`` (null: absent or
        JSON null), from a chunk's raw texts, joined, and their lengths.

        Arrow tells the chunk's texts apart (hashing and comparing them in place); only the
        few distinct ones are looked up here. A new one is decoded, and so validated: the
        error that raises (a value the schema does not allow) is the caller's to handle.
        """
        count = len(lengths)
        if not joined:  # absent in every event (addendum, often)
            return pa.nulls(count, pa.int32())
        encoded = pc.dictionary_encode(_binary_texts(joined, lengths)[0])
        at = self._distinct_positions(i, encoded.dictionary.to_pylist())
        return pa.array(at, pa.int32()).take(encoded.indices)

    def _distinct_positions(self, i: int, texts: list[bytes]) -> list[int | None]:
        """Texts are looked up by their CRC-32 (hardware-assisted, C-level); each is then
        compared byte for byte with the first text of its CRC, so a collision (two texts, one
        CRC) is caught, and the field falls back to keying by the texts themselves."""
        if i in self.by_text:
            return self._positions_by_text(i, texts)
        keys = list(map(crc32, texts))
        seen, first = self.seen[i], self.first[i]
        for key in dict.fromkeys(filterfalse(seen.__contains__, keys)):
            raw = texts[keys.index(key)]
            seen[key] = self._add(i, raw)
            first[key] = raw
        if all(map(eq, texts, map(first.__getitem__, keys))):
            return list(map(seen.__getitem__, keys))
        # Two texts share a CRC: from now on this field is keyed by its texts.
        self.by_text[i] = {raw: seen[key] for key, raw in first.items()}
        return self._positions_by_text(i, texts)

    def _positions_by_text(self, i: int, texts: list[bytes]) -> list[int | None]:
        seen = self.by_text[i]
        for raw in texts:
            if raw not in seen:
                seen[raw] = self._add(i, raw)
        return list(map(seen.__getitem__, texts))

    def _add(self, i: int, raw: bytes) -> int | None:
        """Decode (and so validate) a new distinct text; its position, None for JSON null."""
        decoded = _nested_decoders()[i].decode(raw)
        if decoded is None:
            return None
        self.pending[i].append(decoded)
        self.count[i] += 1
        return self.count[i] - 1

    def column(self, i: int, positions: pa.Array) -> pa.Array:
        """Field ``i`` of a chunk's rows, from their positions (the positions themselves when
        deferred)."""
        if self.deferred:
            return positions
        if positions.null_count == len(positions):
            return pa.nulls(len(positions), arrow_type(EVENT_FIELDS[i], batch=True))
        self._build_pending(i)
        values = self.built[i]
        assert values is not None
        return values.take(positions)

    def adopt(self, table: pa.Table) -> pa.Table:
        """A table with nested values (the tolerant path's) -> one with positions: its values
        are appended to the distinct ones (unchecked for repeats: that path is rare)."""
        for i in _NESTED:
            name = EVENT_FIELDS[i].name
            at = table.schema.get_field_index(name)
            if table.schema.field(at).type == pa.int32():
                continue
            self._build_pending(i)
            values = table.column(at).combine_chunks()
            built = self.built[i]
            self.built[i] = values if built is None else pa.concat_arrays([built, values])
            start = self.count[i]
            self.count[i] += len(values)
            positions = pa.array(range(start, start + len(values)), pa.int32())
            table = table.set_column(at, pa.field(name, pa.int32()), positions)
        return table

    def materialize(self, table: pa.Table) -> pa.Table:
        """Positions -> the nested values they stand for (after sorting, before writing)."""
        for i in _NESTED:
            f = EVENT_FIELDS[i]
            at = table.schema.get_field_index(f.name)
            if at < 0 or table.schema.field(at).type != pa.int32():
                continue
            typ = arrow_type(f, batch=True)
            self._build_pending(i)
            built = self.built[i]
            positions = table.column(at).combine_chunks()
            values = pa.nulls(len(positions), typ) if built is None else built.take(positions)
            table = table.set_column(at, pa.field(f.name, typ), values)
        return table

    def _build_pending(self, i: int) -> None:
        if self.pending[i]:
            piece = _build(self.pending[i], EVENT_FIELDS[i])
            self.pending[i] = []
            built = self.built[i]
            self.built[i] = piece if built is None else pa.concat_arrays([built, piece])


class _FastChunk:
    """A few thousand events from ordinary trail files, gathered file by file and turned into
    columns when the chunk is built; nested values go through :class:`NestedValues` then."""

    def __init__(self, nested: NestedValues) -> None:
        #: the files' events as decoded (nested and free-form JSON as raw texts, views of the
        #: files' texts), turned into columns once, when the chunk is built: transposing file
        #: by file made a tuple per field per file, and extended every column with it
        self.records: list[Any] = []
        self.nested = nested
        #: the files taken: (owner, text, events), to decide them one by one if need be
        self.files: list[tuple[ObjectOutcome, bytes | bytearray, int]] = []
        #: bytes of the files' texts, which bound the joined raw texts (int32 offsets)
        self.size = 0

    @property
    def rows(self) -> int:
        return len(self.records)

    @property
    def full(self) -> bool:
        return self.rows >= FAST_CHUNK_EVENTS or self.size >= _MAX_CHUNK_TEXT

    def add(self, outcome: ObjectOutcome, text: bytes | bytearray) -> bool:
        """Take one file's events; False (and nothing taken) when the tolerant path must decide."""
        try:
            recs = _fast_decoder().decode(text).Records
            if not recs:
                return False  # an empty file is the tolerant path's to judge
        except _REJECTED:
            return False
        self.records.extend(recs)
        self.files.append((outcome, text, len(recs)))
        self.size += len(text)
        outcome.fast_path = True
        return True

    def parts(self) -> list[_Part]:
        """The chunk as one part; file by file when it holds a value that the fast path does
        not take, found as the chunk is built: a nested value the schema refuses (met when
        the chunk's distinct values are decoded), or free-form JSON that is not UTF-8."""
        if len(self.files) == 1:
            ((owner, text, _),) = self.files
            return _decide_alone(owner, text, self.nested, self)
        try:
            part = _Part(self.build())
        except _REJECTED:
            alone = (_decide_alone(owner, text, self.nested) for owner, text, _ in self.files)
            return [p for parts in alone for p in parts]
        for owner, _, count in self.files:
            part.add(owner, range(count))
        return [part]

    def build(self) -> pa.Table:
        """Column by column: no per-event dicts are ever built."""
        arrays: list[pa.Array] = []
        nested = self.nested
        columns = zip(*map(msgspec.structs.astuple, self.records), strict=True)
        for i, (values, f) in enumerate(zip(columns, EVENT_FIELDS, strict=True)):
            if i in _NESTED or i in _FREE_FORM:
                lengths = list(map(len, values))
                # Several fields are absent from whole chunks (addendum, insightDetails...):
                # joining their empty texts would still visit each one's buffer.
                joined = b"".join(values) if any(lengths) else b""
                if i in _NESTED:
                    arrays.append(nested.column(i, nested.positions(i, joined, lengths)))
                else:
                    arrays.append(_json_texts(_utf8(joined), lengths))
            else:
                arrays.append(_build(values, f))
        arrays.append(pa.nulls(self.rows, pa.string()))  # extra: the fast path has no unknowns
        schema = _DEFERRED_ROWS if nested.deferred else _BATCH_ROWS
        return pa.Table.from_arrays(arrays, schema=schema)


def _decide_alone(
    owner: ObjectOutcome,
    text: bytes | bytearray,
    nested: NestedValues,
    chunk: _FastChunk | None = None,
) -> list[_Part]:
    """One file by the fast path, or else by the tolerant path (which coerces or quarantines
    what the fast path refused)."""
    if chunk is None:
        chunk = _FastChunk(nested)
        chunk.add(owner, text)  # taken before, in a larger chunk
    if chunk.rows:
        try:
            part = _Part(chunk.build())
            part.add(owner, range(chunk.rows))
            return [part]
        except _REJECTED:
            pass
    owner.fast_path = False
    slow = _slow_decode(text, owner)
    return [] if slow is None else [slow]


def _struct_children(parents: list[Any], fields: tuple[Field, ...]) -> list[pa.Array]:
    """The columns of structs that are all present: one C-level transpose of the structs'
    values (msgspec's astuple, then zip) instead of one attribute pass per field."""
    if not parents:
        return [_build([], f) for f in fields]
    columns = zip(*map(msgspec.structs.astuple, parents), strict=True)
    return [_build(values, f) for values, f in zip(columns, fields, strict=True)]


def _all_none(values: Sequence[Any]) -> bool:
    """``any`` stops at the first present value, which for a column with values is nearly
    always the first; ``count(None)`` compared every value with None (a rich comparison per
    string: 1.7 us per event over all columns, a tenth of the decode)."""
    return not any(values) and values.count(None) == len(values)


def _build(values: Sequence[Any], f: Field) -> pa.Array:
    if _all_none(values):
        # Many fields are absent from whole chunks (apiVersion, insightDetails, ...): building
        # would convert each None.
        return pa.nulls(len(values), arrow_type(f, batch=True))
    kind = f.kind
    if kind is Kind.STR:
        return pa.array(values, arrow_type(f, batch=True))
    if kind is Kind.BOOL:
        flags = pa.array(values, pa.bool_()).cast(pa.int32())
        return pa.DictionaryArray.from_arrays(flags, _FALSE_TRUE)
    typ = arrow_type(f, batch=True)
    if kind is Kind.MAP:
        return pa.array([None if v is None else _map_text(v) for v in values], typ)
    present = [v for v in values if v is not None]
    if not present:
        return pa.nulls(len(values), typ)
    if kind is Kind.STRUCT:
        kids = _struct_children(present, f.children)
        built = pa.StructArray.from_arrays(kids, fields=list(typ))
    else:
        offsets = [0]
        flat: list[Any] = []
        for v in present:
            flat.extend(v)
            offsets.append(len(flat))
        inner = pa.StructArray.from_arrays(
            _struct_children(flat, f.children), fields=list(typ.value_type)
        )
        built = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), inner, type=typ)
    if len(present) == len(values):
        return built
    # Spread the present values back to their rows; a null index gives a null row.
    at = 0
    index: list[int | None] = []
    for v in values:
        if v is None:
            index.append(None)
        else:
            index.append(at)
            at += 1
    return built.take(pa.array(index, pa.int32()))


def _utf8(joined: bytes) -> bytes:
    """Raw texts joined, checked to be UTF-8: msgspec leaves them unchecked, and Arrow takes
    them as strings unchecked (UnicodeDecodeError sends the chunk's files to be decided one by
    one). Nested texts need no check: each distinct one is decoded, and so checked."""
    if not joined.isascii():
        joined.decode()
    return joined


def _binary_texts(joined: bytes, lengths: list[int]) -> tuple[pa.Array, pa.Buffer]:
    """The texts as one binary array over the joined bytes, and its offsets."""
    count = len(lengths)
    # Offsets summed by Arrow: in Python (accumulate) they cost 4x as much.
    sizes = struct.pack(f"={count + 1}i", 0, *lengths)
    offsets = pc.cumulative_sum_checked(
        pa.Array.from_buffers(pa.int32(), count + 1, [None, pa.py_buffer(sizes)])
    ).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), count, [None, offsets, pa.py_buffer(joined)]), offsets


_QUOTE = pa.scalar(ord('"'), pa.uint8())


def _json_texts(joined: bytes, lengths: list[int]) -> pa.Array:
    """Free-form JSON as its compact text: absent or ``null`` -> NULL, and a JSON string stored
    as the string itself (as Athena's SerDe does); those rare strings are fixed one by one."""
    count = len(lengths)
    if not joined:
        return pa.nulls(count, pa.string())
    binary, offsets = _binary_texts(joined, lengths)
    data = binary.buffers()[2]
    text = binary.view(pa.string())
    starts = pa.Array.from_buffers(pa.int32(), count, [None, offsets])
    first_bytes = pa.Array.from_buffers(pa.uint8(), len(joined), [None, data]).take(
        pc.min_element_wise(starts, len(joined) - 1)  # (an absent last value starts past the end)
    )
    null = pc.or_(pc.equal(pc.binary_length(text), 0), pc.equal(text, "null"))
    if pc.any(pc.equal(first_bytes, _QUOTE)).as_py():
        values = text.to_pylist()
        for k, is_null in enumerate(null.to_pylist()):
            value = values[k]
            quoted = not is_null and value[0] == '"'
            values[k] = None if is_null else msgspec.json.decode(value) if quoted else value
        return pa.array(values, pa.string())
    if not pc.any(null).as_py():
        return text
    valid = pc.invert(null).buffers()[1]
    return pa.Array.from_buffers(pa.string(), count, [valid, offsets, data])


_FALSE_TRUE = pa.array(["false", "true"], pa.string())


#: The columns a decoded part has before _finish adds the helpers, as stored and in a batch.
_STORED_ROWS = pa.schema([f for f in FILE_SCHEMA if f.name not in (EVENTTIME_TS, SOURCEKEY)])
_BATCH_ROWS = pa.schema([f for f in BATCH_SCHEMA if f.name not in (EVENTTIME_TS, SOURCEKEY)])


def _msgspec_type(f: Field) -> tuple[Any, Any]:
    """Type and default of a field inside a nested value, or of a top-level string or flag
    (free-form JSON is top-level only, and read raw by the file decoder)."""
    if f.kind is Kind.BOOL:
        return bool | None, None
    if f.kind is Kind.MAP:
        return dict[str, Any] | None, None
    if f.kind is Kind.STRUCT:
        return _msgspec_struct(f) | None, None
    if f.kind is Kind.LIST:
        return list[_msgspec_struct(f)] | None, None
    return str | None, None


def _msgspec_struct(f: Field) -> type[msgspec.Struct]:
    fields = [(c.json_name, *_msgspec_type(c)) for c in f.children]
    return msgspec.defstruct(f"Fast_{f.json_name}", fields, forbid_unknown_fields=True, gc=False)


#: Positions (in EVENT_FIELDS) of the top-level structs and lists, decoded once per distinct text.
_NESTED: tuple[int, ...] = tuple(
    i for i, f in enumerate(EVENT_FIELDS) if f.kind in (Kind.STRUCT, Kind.LIST)
)
_NESTED_NAMES = frozenset(EVENT_FIELDS[i].name for i in _NESTED)
#: Positions of the top-level free-form JSON fields, kept as their raw text.
_FREE_FORM: tuple[int, ...] = tuple(i for i, f in enumerate(EVENT_FIELDS) if f.kind is Kind.JSON)
#: What a fast-path decode raises for input the tolerant path must decide (msgspec reports a
#: string that is not UTF-8 as UnicodeDecodeError).
_REJECTED = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)
#: _BATCH_ROWS with each nested value as its position in a :class:`NestedValues`.
_DEFERRED_ROWS = pa.schema(
    [pa.field(f.name, pa.int32()) if f.name in _NESTED_NAMES else f for f in _BATCH_ROWS]
)


@cache
def _fast_decoder() -> msgspec.json.Decoder:
    """Whole files, strict about top-level names; nested values stay raw (see _FastChunk)."""
    fields = [
        (f.json_name, msgspec.Raw, _ABSENT)
        if i in _NESTED or i in _FREE_FORM
        else (f.json_name, *_msgspec_type(f))
        for i, f in enumerate(EVENT_FIELDS)
    ]
    event = msgspec.defstruct("Fast_Event", fields, forbid_unknown_fields=True, gc=False)
    doc = msgspec.defstruct(
        "Fast_Doc", [("Records", list[event])], forbid_unknown_fields=True, gc=False
    )
    return msgspec.json.Decoder(doc)


def warm_decoders() -> None:
    """Build the fast path's decoders ahead of the first file (worker start-up)."""
    _fast_decoder()
    _nested_decoders()


@cache
def _nested_decoders() -> dict[int, msgspec.json.Decoder]:
    return {i: msgspec.json.Decoder(_msgspec_type(EVENT_FIELDS[i])[0]) for i in _NESTED}


# --------------------------------------------------------------------------- slow path


def normalize_event(event: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """One event dict -> (row keyed by lake column names, unknown field count, coerced count)."""
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    coerced = 0
    for key, value in event.items():
        f = BY_JSON_NAME.get(key) or BY_LOWER_NAME.get(key.lower())
        if f is None or f.name in row:
            extra[key] = value
            continue
        stored, c = _coerce(value, f, key, extra)
        row[f.name] = stored
        coerced += c
    row[EXTRA] = orjson.dumps(extra).decode() if extra else None
    return row, len(extra), coerced


def _map_text(value: dict[str, Any]) -> dict[str, str | None]:
    """map<string,string>: nested values (webIdFederationData.attributes) as JSON text."""
    return {
        str(k): (v if isinstance(v, str) or v is None else _json_text(v)) for k, v in value.items()
    }


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _coerce(value: Any, f: Field, path: str, extra: dict[str, Any]) -> tuple[Any, int]:
    """Return (stored value, number of coercions); unstorable values go to ``extra``."""
    if value is None:
        return None, 0
    kind = f.kind
    if kind is Kind.JSON:
        return (value if isinstance(value, str) else _json_text(value)), 0
    if kind is Kind.STR:
        if isinstance(value, str):
            return value, 0
        if isinstance(value, bool):
            return ("true" if value else "false"), 1
        return _json_text(value), 1
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return ("true" if value else "false"), 0
        if isinstance(value, str):
            low = value.strip().lower()
            return (low, 1) if low in ("true", "false") else (value, 1)
        return _json_text(value), 1
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        # A struct written as JSON text (CSV exports, LookupEvents): read it if we can.
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            extra[path] = value
            return None, 1
        stored, c = _coerce(value, f, path, extra)
        return stored, c + 1
    if kind is Kind.MAP:
        if isinstance(value, dict):
            return _map_text(value), 0

        extra[path] = value
        return None, 1
    if kind is Kind.STRUCT:
        if isinstance(value, dict):
            return _coerce_struct(value, f, path, extra)
        extra[path] = value
        return None, 1
    # Kind.LIST of structs
    if isinstance(value, dict):
        value = [value]
        wrapped = 1
    else:
        wrapped = 0
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        out, total = [], wrapped
        for i, item in enumerate(value):
            stored, c = _coerce_struct(item, f, f"{path}[{i}]", extra)
            out.append(stored)
            total += c
        return out, total
    extra[path] = value
    return None, 1


def _coerce_struct(
    value: dict[str, Any], f: Field, path: str, extra: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    kids = _children(f)
    out: dict[str, Any] = {}
    total = 0
    for key, item in value.items():
        child = kids.get(key) or kids.get(key.lower())
        if child is None or child.name in out:
            extra[f"{path}.{key}"] = item
            continue
        stored, c = _coerce(item, child, f"{path}.{key}", extra)
        out[child.name] = stored
        total += c
    return out, total


@cache
def _children(f: Field) -> dict[str, Field]:
    kids = {c.json_name: c for c in f.children}
    for low, c in children_by_lower(f).items():
        kids.setdefault(low, c)
    return kids
