"""Decode paths: ordinary CloudTrail must stay on the fast path, and both paths must agree."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from trailfiles import trail_event_files

from trailscope.decode import decode_object, fast, normalize, records
from trailscope.decode.limits import DecodeLimits
from trailscope.decode.normalize import NestedValues, decode_batch, parse_event_time
from trailscope.decode.schema import BATCH_SCHEMA, FILE_SCHEMA
from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def synth_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("trail")
    synth_trail(root, events=3000, seed=21, days=2, org_id="o-abcdefghij")
    return trail_event_files(root)


def test_every_ordinary_trail_file_takes_the_fast_path(synth_files: list[Path]) -> None:
    # A file that silently falls to the tolerant path costs ~10x the CPU: catch it here.
    result = decode_batch([(str(p), p.read_bytes()) for p in synth_files])
    slow = [o.key for o in result.outcomes if not o.fast_path]
    assert slow == []
    assert sum(o.events for o in result.outcomes) == result.table.num_rows > 0


def test_fast_and_tolerant_paths_produce_identical_rows(synth_files: list[Path]) -> None:
    for path in synth_files[:40]:
        fast = decode_object("k", path.read_bytes())
        pretty = json.dumps(json.loads(gzip.decompress(path.read_bytes())), indent=2).encode()
        slow = decode_object("k", pretty)
        assert fast.outcomes[0].fast_path and not slow.outcomes[0].fast_path
        fast_rows, slow_rows = fast.table.to_pylist(), slow.table.to_pylist()
        for a, b in zip(fast_rows, slow_rows, strict=True):
            for column in ("requestparameters", "responseelements", "additionaleventdata"):
                if a[column] is not None and a[column][:1] in "{[":
                    assert json.loads(a[column]) == json.loads(b[column])
                    a[column] = b[column] = None
            assert a == b


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-01T10:00:00Z", "2024-07-01T10:00:00+00:00"),
        ("2024-07-01 10:00:00", "2024-07-01T10:00:00+00:00"),
        ("2024-07-01 10:00:00.123456789", "2024-07-01T10:00:00.123456+00:00"),
        ("2024-07-01T10:00:00+02:00", "2024-07-01T08:00:00+00:00"),
        ("2024-07-01T00:30:00-0100", "2024-07-01T01:30:00+00:00"),
    ],
)
def test_event_time_forms(text: str, expected: str) -> None:
    parsed = parse_event_time(text)
    assert parsed is not None and parsed.isoformat() == expected


@pytest.mark.parametrize("text", ["foo", "...", "redacted", "2024-13-01T00:00:00Z", "", None])
def test_event_time_rejects_what_it_cannot_place(text: str | None) -> None:
    assert parse_event_time(text) is None


def _pretty(path: Path) -> bytes:
    return json.dumps(json.loads(gzip.decompress(path.read_bytes())), indent=2).encode()


def test_a_batch_builds_repeated_nested_values_once_and_spreads_them_to_every_row(
    synth_files: list[Path],
) -> None:
    # Nested values are decoded once per distinct text in a chunk of many files; each row must
    # still get its own value, including rows with a null or absent struct.
    files = sorted(synth_files[:60], key=lambda p: -p.stat().st_size)
    doc = json.loads(gzip.decompress(files[0].read_bytes()))
    assert len(doc["Records"]) >= 3
    doc["Records"][0]["userIdentity"] = None
    doc["Records"][1].pop("tlsDetails", None)
    doc["Records"][2]["resources"] = None
    edited = json.dumps(doc, separators=(",", ":")).encode()
    items = [("edited", edited)] + [(str(p), p.read_bytes()) for p in files[1:]]
    fast = decode_batch(items)
    assert all(o.fast_path for o in fast.outcomes)
    slow_items = [("edited", json.dumps(doc, indent=2).encode())]
    slow_items += [(str(p), _pretty(p)) for p in files[1:]]
    slow = decode_batch(slow_items)
    assert not any(o.fast_path for o in slow.outcomes)
    columns = ["useridentity", "resources", "tlsdetails", "addendum", "eventid", "sourcekey"]
    stored = pa.schema([FILE_SCHEMA.field(c) for c in columns])  # plain, as written to Parquet
    assert fast.table.select(columns).cast(stored).equals(slow.table.select(columns).cast(stored))
    first = fast.table.slice(0, 3).to_pylist()
    assert first[0]["useridentity"] is None
    assert first[1]["tlsdetails"] is None
    assert first[2]["resources"] is None


def test_calls_sharing_deferred_nested_values_give_the_same_rows_once_materialized(
    synth_files: list[Path],
) -> None:
    # Ingest decodes a batch in several calls that share the nested values they met, and
    # carries them as positions through the sort: rows taken in any order from several calls,
    # tolerant-path files among them, must come back with their own values.
    files = synth_files[:30]
    doc = json.loads(gzip.decompress(files[3].read_bytes()))
    doc["Records"][0]["userIdentity"]["userName"] = "only-in-the-pretty-file"
    items = [(str(p), p.read_bytes()) for p in files]
    items[3] = (str(files[3]), json.dumps(doc, indent=2).encode())  # the tolerant path
    expected = decode_batch(items).table
    nested = NestedValues(deferred=True)
    calls = [decode_batch(items[:10], nested), decode_batch(items[10:], nested)]
    assert not calls[0].outcomes[3].fast_path
    table = pa.concat_tables([c.table for c in calls])
    assert table.schema.field("useridentity").type == pa.int32()
    assert nested.count[1] < table.num_rows  # values repeat: each was built once
    order = pa.array(range(table.num_rows - 1, -1, -1))
    rows = nested.materialize(table.take(order))
    assert rows.schema == BATCH_SCHEMA
    assert rows.to_pylist() == expected.take(order).to_pylist()
    names = [u and u["username"] for u in rows.column("useridentity").to_pylist()]
    assert names.count("only-in-the-pretty-file") == 1


def test_nested_texts_that_share_a_crc_still_get_their_own_values(
    synth_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Distinct nested texts are told apart by CRC-32 and then compared byte for byte; a
    # collision must switch the field to keying by text, never give a row another's value.
    items = [(str(p), p.read_bytes()) for p in synth_files[:30]]
    expected = decode_batch(items).table
    monkeypatch.setattr(fast, "crc32", lambda raw: len(bytes(raw)) % 3)
    nested = NestedValues()
    collided = decode_batch(items, nested).table
    assert sorted(nested.by_text) == sorted(i for i in fast._NESTED if nested.count[i])
    assert collided.to_pylist() == expected.to_pylist()


def test_a_nested_value_the_fast_path_cannot_store_sends_only_its_file_to_the_tolerant_path(
    synth_files: list[Path],
) -> None:
    biggest_last = sorted(synth_files[:20], key=lambda p: p.stat().st_size)[-4:]
    good = [(str(p), p.read_bytes()) for p in biggest_last[:3]]
    doc = json.loads(gzip.decompress(biggest_last[3].read_bytes()))
    doc["Records"][5]["userIdentity"]["nickname"] = "unknown to the schema"
    odd = ("odd", json.dumps(doc, separators=(",", ":")).encode())
    result = decode_batch([*good[:2], odd, good[2]])
    assert [o.fast_path for o in result.outcomes] == [True, True, False, True]
    odd_outcome = result.outcomes[2]
    assert odd_outcome.unknown_fields == 1 and odd_outcome.events == len(doc["Records"])
    extra = [r for r in result.table.column("extra").to_pylist() if r is not None]
    assert extra == ['{"userIdentity.nickname":"unknown to the schema"}']
    # The odd value is met when the chunk is built: the other files are then decided one by
    # one, and their rows are exactly those they give without the odd file.
    by_key = result.table.filter(pc.not_equal(result.table.column("sourcekey"), "odd"))
    assert _sorted_rows(by_key) == _sorted_rows(decode_batch(good).table)


def _sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["sourcekey"], r["eventid"]))


def test_a_chunk_is_also_cut_by_the_size_of_its_texts(
    synth_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Raw texts are cut by int32 offsets, so a chunk is built before its texts could overflow
    # them; here every file makes a chunk of its own, with the same rows.
    items = [(str(p), p.read_bytes()) for p in synth_files[:12]]
    whole = decode_batch(items).table
    monkeypatch.setattr(fast, "_MAX_CHUNK_TEXT", 1)
    cut = decode_batch(items).table
    assert _sorted_rows(cut) == _sorted_rows(whole) and cut.num_rows > 0
    assert len(cut.column("eventid").chunks) == len(items)


def test_batches_carry_the_batch_schema_and_cast_losslessly_to_the_stored_one(
    synth_files: list[Path],
) -> None:
    event = {"eventTime": "2024-07-01T10:00:00Z", "eventID": "x", "readOnly": True}
    odd = json.dumps({"Records": [event]}, indent=1)  # pretty: the tolerant path
    items = [(str(p), p.read_bytes()) for p in synth_files[:5]] + [("odd", odd.encode())]
    result = decode_batch(items)
    assert [o.fast_path for o in result.outcomes] == [True] * 5 + [False]
    assert result.table.schema == BATCH_SCHEMA
    stored = result.table.cast(FILE_SCHEMA)
    assert stored.to_pylist() == result.table.to_pylist()


@pytest.mark.parametrize(
    "times",
    [
        ["2024-07-01T10:00:00Z", "2024-07-01 10:00:01Z", "2024-12-31T23:59:59Z"],
        ["2024-07-01T10:00:00Z", "2024-07-01T10:05Z", "2024-07-01T10:00:00.250Z"],
        ["2024-07-01T10:00:00Z", "2024-02-30T10:00:00Z", "2024-07-01T10:00:00+02:00"],
    ],
)
def test_event_times_read_in_bulk_agree_with_the_one_by_one_reading(times: list[str]) -> None:
    # Arrow's ISO cast (the bulk reading) accepts forms the one-by-one reading refuses, such
    # as minutes without seconds: those must still be quarantined.
    events = [{"eventTime": t, "eventID": f"e{i}", "eventName": "X"} for i, t in enumerate(times)]
    text = json.dumps({"Records": events}, separators=(",", ":")).encode()
    result = decode_object("k.json", text)
    expected = {t: parse_event_time(t) for t in times}
    got = dict(
        zip(
            result.table.column("eventtime").to_pylist(),
            result.table.column("eventtime_ts").to_pylist(),
            strict=True,
        )
    )
    assert got == {t: v for t, v in expected.items() if v is not None}
    assert result.outcomes[0].quarantined == [
        (i, f"unparseable eventTime {t!r}") for i, t in enumerate(times) if expected[t] is None
    ]


def _compact(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "field",
    ['"eventName":"X\xff"', '"requestParameters":{"a":"\xc3("}', '"userIdentity":{"type":"\xff"}'],
    ids=["string", "free-form JSON", "nested"],
)
def test_an_event_that_is_not_utf8_is_quarantined_alone_and_the_batch_goes_on(
    synth_files: list[Path], field: str
) -> None:
    # msgspec reports bad UTF-8 in a string as UnicodeDecodeError, and leaves it unchecked in
    # raw JSON texts: either used to end the whole run, and then to cost the whole file.
    first = '{"eventVersion":"1.08","eventTime":"2024-07-01T10:00:00Z","eventID":"e0"}'
    event = '{"eventVersion":"1.08","eventTime":"2024-07-01T10:00:00Z","eventID":"e1",' + field
    bad = ('{"Records":[' + first + "," + event + "}]}").encode("latin-1")
    accented = _compact(
        {"Records": [{"eventTime": "2024-07-01T10:00:00Z", "requestParameters": {"a": "café"}}]}
    )
    good = [(str(p), p.read_bytes()) for p in synth_files[:3]]
    expected = decode_batch(good).table.num_rows
    result = decode_batch([good[0], ("bad", bad), good[1], ("accented", accented), good[2]])
    outcomes = {o.key: o for o in result.outcomes}
    assert outcomes["bad"].quarantined == [(1, "event with text that is not valid UTF-8")]
    assert outcomes["bad"].events == 1
    assert outcomes["accented"].fast_path and outcomes["accented"].events == 1
    assert result.table.num_rows == expected + 2
    assert '{"a":"café"}' in result.table.column("requestparameters").to_pylist()
    assert "e0" in result.table.column("eventid").to_pylist()


def test_free_form_json_is_stored_as_its_text_null_and_absent_as_null() -> None:
    events = [
        {"eventTime": "2024-07-01T10:00:00Z", "requestParameters": {"b": [1, 2]}},
        {"eventTime": "2024-07-01T10:00:01Z", "requestParameters": None},
        {"eventTime": "2024-07-01T10:00:02Z"},
        {"eventTime": "2024-07-01T10:00:03Z", "requestParameters": 'a "quoted" string'},
        {"eventTime": "2024-07-01T10:00:04Z", "requestParameters": []},
    ]
    result = decode_object("k.json", _compact({"Records": events}))
    assert result.outcomes[0].fast_path
    assert result.table.column("requestparameters").to_pylist() == [
        '{"b":[1,2]}',
        None,
        None,
        'a "quoted" string',
        "[]",
    ]
    result.table.validate(full=True)


def _gz(text: bytes) -> bytes:
    return gzip.compress(text, mtime=0)


def test_gzip_objects_of_several_members_are_read_whole(synth_files: list[Path]) -> None:
    # One-call gunzip (libdeflate) reads only a first member: an object whose trailer is not
    # its first member's must be read by the streaming reader, every member of it.
    first, second = (gzip.decompress(p.read_bytes()) for p in synth_files[:2])
    two = decode_object("two.json.gz", _gz(first + b"\n") + _gz(second))  # NDJSON, 2 members
    one = decode_object("one.json.gz", _gz(first + b"\n"))
    both = decode_batch([("a", _gz(first)), ("b", _gz(second))])
    assert two.outcomes[0].quarantined == [] and one.outcomes[0].quarantined == []
    assert two.table.num_rows == both.table.num_rows > one.table.num_rows
    assert records.gunzip_if_needed(_gz(first) + _gz(second)) == first + second
    assert records.gunzip_if_needed(_gz(first)) == first


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda z: z[:-20], "damaged gzip: Compressed file ended before the end-of-stream marker"),
        (lambda z: z[:-8] + b"\0\0\0\0" + z[-4:], "damaged gzip: CRC check failed"),
        (lambda z: z[:-4] + b"\xff\xff\xff\x7f", "damaged gzip: Incorrect length of data produced"),
        (lambda z: z + b"junk", "damaged gzip: Compressed file ended before the end-of-stream"),
    ],
    ids=["truncated", "bad CRC", "size beyond any deflate ratio", "trailing bytes"],
)
def test_damaged_gzip_is_quarantined_with_the_damage_named(
    synth_files: list[Path], damage: object, reason: str
) -> None:
    data = damage(synth_files[0].read_bytes())  # type: ignore[operator]
    result = decode_object("bad.json.gz", data)
    [(position, got)] = result.outcomes[0].quarantined
    assert position is None and got.startswith(reason)
    assert result.table.num_rows == 0


def _deep(levels: int) -> object:
    value: object = "x"
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("levels", "position", "kept"),
    [(99, 0, True), (100, 0, False), (99, 37, True), (100, 37, False), (100, 127, False)],
)
def test_the_fast_path_finds_a_deep_value_anywhere_in_a_chunk_and_keeps_its_neighbours(
    synth_files: list[Path], levels: int, position: int, kept: bool
) -> None:
    # Brackets are counted over runs of values; a deep value at the start, the middle or the
    # end of a run must be found, and a value exactly at the limit (the event is then 100
    # levels deep) kept, as the tolerant path keeps it.
    files = [gzip.decompress(p.read_bytes()) for p in synth_files[:12]]
    doc = json.loads(files[5])
    position = min(position, len(doc["Records"]) - 1)
    doc["Records"][position]["responseElements"] = _deep(levels)
    items = [(f"f{i}", data) for i, data in enumerate(files)]
    items[5] = ("deep", _compact(doc))
    result = decode_batch(items)
    outcomes = {o.key: o for o in result.outcomes}
    others = [o for o in result.outcomes if o.key != "deep"]
    assert all(o.fast_path and not o.quarantined for o in others)
    expected = [] if kept else [(position, "nested deeper than 100 levels")]
    assert outcomes["deep"].quarantined == expected
    assert outcomes["deep"].fast_path is kept
    assert outcomes["deep"].events == len(doc["Records"]) - (0 if kept else 1)
    pretty = decode_object("deep", json.dumps(doc, indent=1).encode())
    assert pretty.outcomes[0].quarantined == expected  # the tolerant path agrees


def test_a_surprise_on_the_fast_path_sends_only_its_file_to_the_tolerant_path(
    synth_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An error nobody foresaw in building one file's columns (here: any column holding a
    # given event id) must cost that file its fast path, and nothing else.
    files = [(str(p), p.read_bytes()) for p in synth_files[:8]]
    expected = decode_batch(files).table
    poisoned = json.loads(gzip.decompress(files[3][1]))["Records"][0]["eventID"]
    real_build = fast._build

    def build(values: object, f: object) -> object:
        if poisoned in values:  # type: ignore[operator]
            raise OverflowError("something odd")
        return real_build(values, f)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "_build", build)
    result = decode_batch(files)
    assert [o.fast_path for o in result.outcomes] == [i != 3 for i in range(len(files))]
    assert all(not o.quarantined for o in result.outcomes)
    assert _sorted_rows(result.table) == _sorted_rows(expected)


def test_an_error_nobody_foresaw_quarantines_only_its_object(
    synth_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A surprise where both paths meet (finishing a part of several files' rows): the part's
    # files are finished again one by one, and only the one that fails is quarantined.
    files = [(str(p), p.read_bytes()) for p in synth_files[:8]]
    real_finish = normalize._finish

    def finish(part: object) -> object:
        if any(owner.key == files[3][0] for owner, _ in part.spans):  # type: ignore[attr-defined]
            raise OverflowError("something odd")
        return real_finish(part)  # type: ignore[arg-type]

    monkeypatch.setattr(normalize, "_finish", finish)
    result = decode_batch(files)
    assert [o.quarantined for o in result.outcomes] == [
        [(None, "cannot be decoded: OverflowError: something odd")] if i == 3 else []
        for i in range(len(files))
    ]
    monkeypatch.setattr(normalize, "_finish", real_finish)
    others = decode_batch(files[:3] + files[4:]).table
    assert _sorted_rows(result.table) == _sorted_rows(others)


def test_decompression_stops_at_the_limit(synth_files: list[Path]) -> None:
    text = gzip.decompress(synth_files[0].read_bytes())
    limits = DecodeLimits(max_object_bytes=len(text))
    assert decode_object("a.json.gz", _gz(text), limits).outcomes[0].quarantined == []
    over = DecodeLimits(max_object_bytes=len(text) - 1)
    for data in (_gz(text), _gz(text[:100]) + _gz(text[100:])):  # one member, and several
        [outcome] = decode_object("a.json.gz", data, over).outcomes
        assert outcome.quarantined == [
            (None, f"larger than {len(text) - 1:,} bytes when decompressed")
        ]
    [plain] = decode_object("a.json", text, over).outcomes
    assert plain.quarantined == [(None, f"larger than {len(text) - 1:,} bytes")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0000-01-01T00:00:00Z", "unparseable eventTime '0000-01-01T00:00:00Z'"),
        (
            "9999-12-31T23:00:00-05:00",
            "eventTime '9999-12-31T23:00:00-05:00' is outside the years 1-9999 in UTC",
        ),
        (
            "0001-01-01T00:00:00+00:01",
            "eventTime '0001-01-01T00:00:00+00:01' is outside the years 1-9999 in UTC",
        ),
        ("", "event without eventTime"),
    ],
)
def test_times_no_timestamp_can_hold_are_quarantined_on_both_readings(
    text: str, reason: str
) -> None:
    # The bulk reading (Arrow's cast) takes the year 0 when every time has 20 characters.
    events = [
        {"eventTime": "2024-07-01T10:00:00Z", "eventID": "a"},
        {"eventTime": text, "eventID": "b"},
    ]
    for data in (_compact({"Records": events}), json.dumps({"Records": events}, indent=1).encode()):
        result = decode_object("k", data)
        assert result.outcomes[0].quarantined == [(1, reason)]
        assert result.table.column("eventid").to_pylist() == ["a"]


def test_integers_of_any_size_are_kept_digit_for_digit_on_both_paths() -> None:
    big = "123456789012345678901234567890"
    text = (
        '{"Records":[{"eventTime":"2024-07-01T10:00:00Z","requestParameters":{"n":' + big + "}}]}"
    )
    fast_path = decode_object("k", text.encode())
    tolerant = decode_object("k", json.dumps(json.loads(text), indent=2).encode())
    assert fast_path.outcomes[0].fast_path and not tolerant.outcomes[0].fast_path
    for result in (fast_path, tolerant):
        assert result.table.column("requestparameters").to_pylist() == ['{"n":' + big + "}"]
