"""The fast path: ordinary CloudTrail files, decoded by msgspec and built into Arrow by column.

Standard compact ``{"Records": [...]}`` files are decoded with a typed msgspec decoder (free-form
objects pass through as raw bytes and are never built as Python objects), and a whole chunk of
files is converted to Arrow column by column, so per-call costs are paid once per chunk rather
than once per 5-minute file. It refuses anything unusual (an unknown field, a value of the wrong
type, text that is not UTF-8, a value nested deeper than the limit, a record that is not
CloudTrail), which sends that file to the tolerant path (:mod:`trailscope.decode.tolerant`).

Keeping the strict fast path honest is what lets it be fast: it never has to decide anything.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Sequence
from functools import cache
from itertools import accumulate, compress, filterfalse, repeat
from operator import add, eq
from types import GenericAlias
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from zlib_ng.zlib_ng import crc32

from trailscope.decode import jsontext
from trailscope.decode.limits import DEFAULT_LIMITS, DecodeLimits
from trailscope.decode.parts import (
    BATCH_ROWS,
    MAX_EVENT_BYTES,
    ObjectOutcome,
    Part,
    Text,
    failure_reason,
)
from trailscope.decode.schema import EVENT_FIELDS, Field, Kind, arrow_type
from trailscope.decode.tolerant import map_text, slow_decode

#: What the fast decoder gives for an absent nested or free-form field: empty raw text instead
#: of None (JSON text is never empty), so a column of them is all raw texts, hashed, compared
#: or joined in C-level passes without a Python-level test for None per value.
_ABSENT = msgspec.Raw(b"")
_ABSENT_CRC = crc32(b"")
#: Records converted to Arrow at a time: column-wise passes over more than a few thousand
#: structs fall out of CPU cache.
FAST_CHUNK_EVENTS = 2048
#: A chunk's texts are cut by int32 offsets: it is also built once its files hold this much.
_MAX_CHUNK_TEXT = 1 << 30


log = logging.getLogger(__name__)


class TooDeep(ValueError):
    """A value nests deeper than the limit: the tolerant path names the event."""


class NotCloudTrailRecord(ValueError):
    """A record's eventSource is ``aws:<service>``: the tolerant path names the record."""


def fast_path_applies(text: Text) -> bool:
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

    def __init__(self, *, deferred: bool = False, limits: DecodeLimits = DEFAULT_LIMITS) -> None:
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
        self.limits = limits

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
        """Decode (and so validate) a new distinct text; its position, None for JSON null.
        Its nesting is checked here too: a map inside it holds any JSON."""
        if jsontext.text_nests_deeper(raw, self.limits.max_depth - 1):
            raise TooDeep(EVENT_FIELDS[i].json_name)
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
        self.files: list[tuple[ObjectOutcome, Text, int]] = []
        #: bytes of the files' texts, which bound the joined raw texts (int32 offsets)
        self.size = 0

    @property
    def rows(self) -> int:
        return len(self.records)

    @property
    def full(self) -> bool:
        return self.rows >= FAST_CHUNK_EVENTS or self.size >= _MAX_CHUNK_TEXT

    def add(self, outcome: ObjectOutcome, text: Text) -> bool:
        """Take one file's events; False (and nothing taken) when the tolerant path must decide."""
        try:
            recs = _fast_decoder().decode(text).Records
            if not recs:
                return False  # an empty file is the tolerant path's to judge
        except REJECTED:
            return False
        self.records.extend(recs)
        self.files.append((outcome, text, len(recs)))
        self.size += len(text)
        outcome.fast_path = True
        return True

    def parts(self) -> list[Part]:
        """The chunk as one part; file by file when it holds a value that the fast path does
        not take, found as the chunk is built: a nested value the schema refuses (met when
        the chunk's distinct values are decoded), free-form JSON that is not UTF-8 or nests
        too deep, a record that is not CloudTrail. Any other failure is met the same way:
        each file alone then fails on its own, and only that file is quarantined."""
        if len(self.files) == 1:
            ((owner, text, _),) = self.files
            return decide_alone(owner, text, self.nested, self)
        try:
            part = Part(self.build(), texts=[(owner, text) for owner, text, _ in self.files])
        except Exception:
            alone = (decide_alone(owner, text, self.nested) for owner, text, _ in self.files)
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
                    if _nests_deeper(joined, lengths, nested.limits.max_depth - 1):
                        raise TooDeep(f.json_name)
                    arrays.append(_json_texts(_utf8(joined), lengths))
            else:
                arrays.append(_build(values, f))
        if _notifications(arrays[_EVENT_SOURCE]):
            raise NotCloudTrailRecord("eventSource")
        arrays.append(pa.nulls(self.rows, pa.string()))  # extra: the fast path has no unknowns
        schema = _DEFERRED_ROWS if nested.deferred else BATCH_ROWS
        return pa.Table.from_arrays(arrays, schema=schema)


#: Values whose brackets are counted together: a run's count bounds the nesting of each value
#: in it, and counting runs instead of values saves most of the calls (a free-form value holds
#: two opening brackets on average, so a run rarely reaches the limit).
_RUN = 32


def _nests_deeper(joined: bytes, lengths: list[int], limit: int) -> bool:
    """Whether a value of a chunk's free-form column nests more than ``limit`` levels.

    No value nests deeper than it has opening brackets. They are counted (at C speed, no
    Python-level step per value) over runs of values; only a run counting more than the limit
    is looked at value by value, and only a value counting more than the limit is parsed."""
    if not joined or max(lengths) < 2 * (limit + 1):  # too short to nest that deep
        return False
    ends = list(accumulate(lengths))
    run_ends = ends[_RUN - 1 :: _RUN]
    if len(ends) % _RUN:
        run_ends.append(ends[-1])
    run_starts = [0, *run_ends[:-1]]
    counts = _brackets(joined, run_starts, run_ends)
    for run in compress(range(len(run_ends)), map(limit.__lt__, counts)):
        first = run * _RUN
        value_ends = ends[first : first + _RUN]
        value_starts = [run_starts[run], *value_ends[:-1]]
        values = _brackets(joined, value_starts, value_ends)
        for start, end, count in zip(value_starts, value_ends, values, strict=True):
            if count > limit and jsontext.text_nests_deeper(memoryview(joined)[start:end], limit):
                return True
    return False


def _brackets(joined: bytes, starts: list[int], ends: list[int]) -> Iterator[int]:
    """Opening brackets in each ``joined[start:end]``."""
    count = joined.count
    curly = map(count, repeat(b"{"), starts, ends)
    square = map(count, repeat(b"["), starts, ends)
    return map(add, curly, square)


_AWS_PREFIX = "aws:"


def _notifications(sources: pa.Array) -> bool:
    """Whether some eventSource is ``aws:<service>`` (S3 notifications, DynamoDB Streams...):
    looked up among the chunk's few distinct sources, not row by row."""
    names = sources.dictionary if pa.types.is_dictionary(sources.type) else sources
    return len(names) > 0 and pc.any(pc.starts_with(names, _AWS_PREFIX)).as_py() is True


def decide_alone(
    owner: ObjectOutcome,
    text: Text,
    nested: NestedValues,
    chunk: _FastChunk | None = None,
) -> list[Part]:
    """One file by the fast path, or else by the tolerant path (which coerces or quarantines
    what the fast path refused)."""
    if chunk is None:
        chunk = _FastChunk(nested)
        chunk.add(owner, text)  # taken before, in a larger chunk
    if chunk.rows:
        try:
            part = Part(chunk.build(), texts=[(owner, text)])
            part.add(owner, range(chunk.rows))
            return [part]
        except REJECTED:
            pass
        except Exception:  # unforeseen: the tolerant path may still read the file
            log.warning("%s: fast path failed, tolerant path next", owner.key, exc_info=True)
    owner.fast_path = False
    try:
        slow = slow_decode(text, owner, nested.limits)
    except Exception as exc:
        log.warning("%s: quarantined: decoding failed", owner.key, exc_info=True)
        owner.reject(failure_reason(exc))
        return []
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
        return pa.array([None if v is None else map_text(v) for v in values], typ)
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
    # Offsets summed by Arrow: in Python (accumulate) they cost several times as much.
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
        return GenericAlias(list, (_msgspec_struct(f),)) | None, None
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
REJECTED = (
    msgspec.ValidationError,
    msgspec.DecodeError,
    UnicodeDecodeError,
    RecursionError,  # nested past what msgspec can follow (about a thousand levels)
    TooDeep,
    NotCloudTrailRecord,
)
_EVENT_SOURCE = next(i for i, f in enumerate(EVENT_FIELDS) if f.json_name == "eventSource")
#: BATCH_ROWS with each nested value as its position in a :class:`NestedValues`.
_DEFERRED_ROWS = pa.schema(
    [pa.field(f.name, pa.int32()) if f.name in _NESTED_NAMES else f for f in BATCH_ROWS]
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
        "Fast_Doc",
        [("Records", GenericAlias(list, (event,)))],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(doc)


def warm_decoders() -> None:
    """Build the fast path's decoders ahead of the first file (worker start-up)."""
    _fast_decoder()
    _nested_decoders()


@cache
def _nested_decoders() -> dict[int, msgspec.json.Decoder]:
    return {i: msgspec.json.Decoder(_msgspec_type(EVENT_FIELDS[i])[0]) for i in _NESTED}
