"""Acceptance test over the real CloudTrail sample corpus (``shared/samples/events``).

Every expectation here is computed independently of trailscope's decoder: the corpus is read with
``json``/``gzip`` only, each file is unwrapped according to the format that ``INVENTORY.tsv``
names for it (the unwrapping below is this test's own), and only then compared with what the
lake holds. trailscope's ``records``/``normalize`` functions are never used to build an
expectation; ``decode_object`` is only called as the thing under test.

Definitions used throughout:

* an event is *valid* when its ``eventTime`` (key matched case-insensitively, because lowercase
  Athena-style exports are documented as understood) is a real timestamp,
  ``YYYY-MM-DDTHH:MM:SS[.frac]Z`` or ``YYYY-MM-DD HH:MM:SS[.frac][Z]``;
* two events are *exact duplicates* when they share an ``eventID`` and are equal as parsed JSON
  (canonical ``json.dumps(sort_keys=True)``): the lake keeps one copy; different events that share
  an ``eventID`` are all kept.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trailscope.decode import decode_object
from trailscope.facade import Lake

pytestmark = pytest.mark.slow

# --------------------------------------------------------------------------- the corpus


def _samples_dir() -> Path:
    """``TRAILSCOPE_SAMPLES`` (the ``samples`` or the ``events`` folder), else the repo sibling."""
    env = os.environ.get("TRAILSCOPE_SAMPLES")
    base = (
        Path(env).expanduser()
        if env
        else Path(__file__).resolve().parents[2] / "shared" / "samples" / "events"
    )
    if not (base / "INVENTORY.tsv").is_file() and (base / "events" / "INVENTORY.tsv").is_file():
        base = base / "events"
    return base


SAMPLES = _samples_dir()
#: INVENTORY formats whose files must be quarantined as a whole.
_REJECTED_FORMATS = ("NOT valid JSON", "SNS notification", "csv")
_DIGEST_FORMAT = "CloudTrail-Digest"
#: Free-form columns stored as compact JSON text (Athena types them STRING).
JSON_COLUMNS = frozenset(
    {
        "requestparameters",
        "responseelements",
        "additionaleventdata",
        "serviceeventdetails",
        "edgedevicedetails",
        "insightdetails",
        "eventcontext",
    }
)
BOOL_COLUMNS = frozenset({"readonly", "managementevent"})
HELPER_COLUMNS = frozenset({"extra", "eventtime_ts", "sourcekey", "event_date"})
#: Keys whose presence makes an object count as an event rather than as an unknown object.
_IDENTIFYING_KEYS = frozenset({"eventname", "eventsource", "eventtime", "eventversion", "eventid"})
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z|\x20(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?)"
)


def get_ci(event: dict[str, Any], name: str) -> Any:
    """First value whose key matches ``name`` case-insensitively (None if absent)."""
    low = name.lower()
    for key, value in event.items():
        if key.lower() == low:
            return value
    return None


def parse_time(value: Any) -> datetime | None:
    """The test's own reading of a *real* CloudTrail timestamp; anything else is None."""
    if not isinstance(value, str):
        return None
    m = _TIME_RE.fullmatch(value)
    if not m:
        return None
    g = m.groups()
    hms = g[3:7] if g[3] is not None else g[7:11]
    micros = int((hms[3] or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(g[0]), int(g[1]), int(g[2]), int(hms[0]), int(hms[1]), int(hms[2]), micros, UTC
        )
    except ValueError:
        return None


def canonical(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False)


def ordered(event: dict[str, Any]) -> str:
    """The same JSON with its key order kept: two copies differ here only by key order."""
    return json.dumps(event, ensure_ascii=False)


def unwrap(fmt: str, data: bytes) -> list[dict[str, Any]]:
    """The events of one file, by the format INVENTORY names (the test's own unwrapping)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    if fmt.startswith("ndjson"):
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        docs = [json.loads(text)]
    out: list[dict[str, Any]] = []
    for doc in docs:
        if fmt.startswith("StreamAlert test-case array"):
            for case in doc:
                out.extend(_unwrap_streamalert(fmt, case["data"]))
        elif '{"Records":[...]}' in fmt:
            out.extend(doc["Records"])
        elif fmt.startswith("JSON array of events"):
            out.extend(doc)
        elif fmt.startswith(("single event object", "ndjson")):
            out.append(doc)
        elif fmt.startswith("EventBridge envelope"):
            out.append(doc["detail"])
        elif fmt.startswith("LookupEvents API output"):
            for item in doc["Events"]:
                text_event = item.get("CloudTrailEvent")
                out.append(json.loads(text_event) if isinstance(text_event, str) else item)
        elif fmt.startswith(_DIGEST_FORMAT):
            pass
        else:
            raise AssertionError(f"the test does not know the INVENTORY format {fmt!r}")
    return out


def _unwrap_streamalert(fmt: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    kind = fmt.rsplit("=", 1)[1].strip()
    if kind == "Records":
        return list(data["Records"])
    if kind == "EventBridge":
        return [data["detail"]]
    if kind == "CWLogs":
        return [json.loads(log_event["message"]) for log_event in data["logEvents"]]
    raise AssertionError(f"unknown StreamAlert data kind in {fmt!r}")


@dataclass
class SampleFile:
    key: str  # "<source dir>/<file>", the lake's sourcekey
    fmt: str  # INVENTORY's format, or "metadata" for files INVENTORY does not list
    inventory_events: int | None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.fmt == "metadata" or self.fmt.startswith(_REJECTED_FORMATS)

    @property
    def digest(self) -> bool:
        return self.fmt.startswith(_DIGEST_FORMAT)

    @property
    def valid_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if parse_time(get_ci(e, "eventTime")) is not None]

    def expected_event_quarantine(self) -> set[tuple[int, str]]:
        """(position, reason) of every event that must not reach the lake.

        Positions count the records of the file (each item of ``Records``, each NDJSON line,
        each log event...), whether or not they turn out to be events.
        """
        out: set[tuple[int, str]] = set()
        for pos, event in enumerate(self.events):
            keys = {k.lower() for k in event}
            if not keys & _IDENTIFYING_KEYS:
                shown = ", ".join(list(event)[:5])
                out.add((pos, f"object is not a CloudTrail event (keys: {shown})"))
                continue
            raw = get_ci(event, "eventTime")
            if parse_time(raw) is None:
                reason = (
                    "event without eventTime"
                    if not raw
                    else f"unparseable eventTime {str(raw)[:40]!r}"
                )
                out.add((pos, reason))
        return out


@dataclass
class Corpus:
    root: Path
    files: dict[str, SampleFile]

    def by_format(self, prefix: str) -> list[SampleFile]:
        return [f for f in self.files.values() if f.fmt.startswith(prefix)]

    @property
    def rejected_keys(self) -> set[str]:
        return {k for k, f in self.files.items() if f.rejected}

    @property
    def digest_keys(self) -> set[str]:
        return {k for k, f in self.files.items() if f.digest}

    def valid_occurrences(self) -> list[tuple[str, dict[str, Any]]]:
        return [(f.key, e) for f in self.files.values() for e in f.valid_events]


def load_corpus(root: Path) -> Corpus:
    inventory = root / "INVENTORY.tsv"
    if not inventory.is_file():
        pytest.fail(
            f"CloudTrail sample corpus not found at {root} (no INVENTORY.tsv). It lives in "
            "../shared/samples/events next to the repo; set TRAILSCOPE_SAMPLES to its path.",
            pytrace=False,
        )
    files: dict[str, SampleFile] = {}
    with inventory.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            key = f"{row['source_dir']}/{row['file']}"
            count = int(row["events"]) if row["events"] else None
            sample = SampleFile(key, row["format"], count)
            if not sample.rejected:
                sample.events = unwrap(sample.fmt, (root / key).read_bytes())
            files[key] = sample
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        files.setdefault(key, SampleFile(key, "metadata", None))
    return Corpus(root, files)


# --------------------------------------------------------------------------- fixtures


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy the (read-only) corpus to a writable place, as a user's own folder would be."""
    shutil.copytree(src, dest, copy_function=shutil.copyfile)
    for dirpath, _, _ in os.walk(dest):
        os.chmod(dirpath, 0o755)


@dataclass
class Ingested:
    corpus: Corpus
    source: Path  # the copy of events/
    lake: Lake
    summary: Any
    table: pa.Table  # every live row, with the event_date partition column
    rows: list[dict[str, Any]]

    def rel(self, uri: str) -> str:
        return Path(uri).relative_to(self.source).as_posix()


def read_lake(lake: Lake) -> pa.Table:
    tables = []
    for path in lake.files():
        part = pq.read_table(path)
        day = re.fullmatch(r"event_date=(\d{4}-\d{2}-\d{2})", path.parent.name)
        assert day, f"lake file outside a Hive partition folder: {path}"
        tables.append(part.append_column("event_date", pa.array([day[1]] * part.num_rows)))
    assert tables, "the lake holds no Parquet files"
    return pa.concat_tables(tables)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(SAMPLES)


@pytest.fixture(scope="module")
def ingested(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    root = tmp_path_factory.mktemp("samples")
    source = root / "events"
    _copy_tree(corpus.root, source)
    lake = Lake(root / "lake")
    summary = lake.ingest(str(source), workers=1)
    table = read_lake(lake)
    return Ingested(corpus, source, lake, summary, table, table.to_pylist())


def _expected_groups(corpus: Corpus) -> tuple[dict[Any, set[str]], dict[Any, set[str]]]:
    """Per eventID: distinct canonical contents, and distinct key-ordered forms."""
    contents: dict[Any, set[str]] = defaultdict(set)
    forms: dict[Any, set[str]] = defaultdict(set)
    for _, event in corpus.valid_occurrences():
        eid = get_ci(event, "eventID")
        contents[eid].add(canonical(event))
        forms[eid].add(ordered(event))
    return contents, forms


# --------------------------------------------------------------------------- 0. the test's model


def test_unwrapping_matches_inventory_counts(corpus: Corpus) -> None:
    """The test's own unwrapping finds exactly the events INVENTORY counts, file by file."""
    wrong = {
        key: (len(f.events), f.inventory_events)
        for key, f in corpus.files.items()
        if not f.rejected and len(f.events) != (f.inventory_events or 0)
    }
    assert not wrong, f"unwrapped vs INVENTORY event counts differ: {wrong}"
    unlisted = {k for k, f in corpus.files.items() if f.fmt == "metadata"}
    assert "INVENTORY.tsv" in unlisted
    assert {k for k in unlisted if k.endswith("/_manifest.tsv")}, "no _manifest.tsv found"
    assert all(
        k == "INVENTORY.tsv" or k.endswith(("/_manifest.tsv", "_index.ndjson")) for k in unlisted
    ), f"files INVENTORY does not list should only be corpus metadata: {sorted(unlisted)}"
    assert len(corpus.digest_keys) == 3
    assert len(corpus.valid_occurrences()) > 800


# --------------------------------------------------------------------------- 1 + 2. counts


def test_ingest_summary_adds_up(ingested: Ingested) -> None:
    corpus, summary = ingested.corpus, ingested.summary
    n_files = len(corpus.files)
    valid = corpus.valid_occurrences()
    bad_events = sum(len(f.events) - len(f.valid_events) for f in corpus.files.values())
    assert summary.listed == n_files
    assert summary.read == n_files
    assert summary.quarantined_objects == len(corpus.rejected_keys)
    assert sum(summary.skipped.values()) == len(corpus.digest_keys)
    assert summary.quarantined_events == bad_events
    assert summary.events_added == len(ingested.rows)
    assert summary.events_added + summary.duplicates_dropped == len(valid)
    info = ingested.lake.info(quarantine_limit=10_000)
    assert info.events == len(ingested.rows)
    assert info.quarantined_events == bad_events


def test_rows_per_event_id(ingested: Ingested) -> None:
    """One row per distinct content of each eventID (exact duplicates dropped, look-alikes kept).

    Copies that differ only in object key order are checked with bounds here; the strict rule is
    ``test_exact_duplicates_ignore_key_order``.
    """
    contents, forms = _expected_groups(ingested.corpus)
    got = Counter(row["eventid"] for row in ingested.rows)
    assert set(got) <= set(contents), f"rows with unknown eventIDs: {set(got) - set(contents)}"
    wrong = {}
    for eid, canon in contents.items():
        low, high = len(canon), len(forms[eid])
        if not low <= got[eid] <= high:
            wrong[eid] = (got[eid], low, high)
    assert not wrong, f"eventID: (rows, expected, expected if key order mattered): {wrong}"
    exact = [eid for eid in contents if len(contents[eid]) == len(forms[eid])]
    assert sum(got[e] for e in exact) == sum(len(contents[e]) for e in exact)
    assert len(exact) > 0.95 * len(contents)


def test_exact_duplicates_ignore_key_order(ingested: Ingested) -> None:
    contents, _ = _expected_groups(ingested.corpus)
    got = Counter(row["eventid"] for row in ingested.rows)
    wrong = {eid: (got[eid], len(c)) for eid, c in contents.items() if got[eid] != len(c)}
    assert not wrong, f"eventID: (rows, distinct contents): {wrong}"
    assert len(ingested.rows) == sum(len(c) for c in contents.values())


def test_rows_per_source_file(ingested: Ingested) -> None:
    """Each file's rows are its own valid events; duplicates across files are kept once."""
    corpus = ingested.corpus
    homes: dict[tuple[Any, str], set[str]] = defaultdict(set)
    for key, event in corpus.valid_occurrences():
        homes[(get_ci(event, "eventID"), canonical(event))].add(key)
    rows_by_file = Counter(row["sourcekey"] for row in ingested.rows)
    ids_by_file: dict[str, set[Any]] = defaultdict(set)
    for row in ingested.rows:
        ids_by_file[row["sourcekey"]].add(row["eventid"])
    assert set(rows_by_file) <= set(corpus.files), "rows from files that do not exist"
    problems = []
    for key, sample in corpus.files.items():
        valid = sample.valid_events
        valid_ids = {get_ci(e, "eventID") for e in valid}
        only_here = {g for g, where in homes.items() if where == {key}}
        low = len(only_here)
        high = len({(get_ci(e, "eventID"), ordered(e)) for e in valid})
        if not low <= rows_by_file[key] <= high:
            problems.append(f"{key}: {rows_by_file[key]} rows, expected {low}..{high}")
        if not ids_by_file[key] <= valid_ids:
            problems.append(f"{key}: foreign eventIDs {ids_by_file[key] - valid_ids}")
        missing = {eid for eid, _ in only_here} - ids_by_file[key]
        if missing:
            problems.append(f"{key}: missing eventIDs {missing}")
    assert not problems, "\n".join(problems)
    for key in corpus.rejected_keys | corpus.digest_keys:
        assert rows_by_file[key] == 0, key


# --------------------------------------------------------------------------- 3. quarantine


def _stdlib_json_error(path: Path) -> json.JSONDecodeError:
    try:
        json.loads(path.read_bytes().decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError(f"{path} parses as JSON")


def test_rejected_files_are_quarantined_with_good_reasons(ingested: Ingested) -> None:
    corpus = ingested.corpus
    info = ingested.lake.info(quarantine_limit=10_000)
    whole = {ingested.rel(q.uri): q.reason for q in info.quarantine if q.position is None}
    assert set(whole) == corpus.rejected_keys
    for key, reason in whole.items():
        assert reason.strip() and "\n" not in reason and len(reason) < 300, (key, reason)
    # Malformed JSON: "not JSON: <what>: line L column C (char N)", where stdlib json agrees on
    # the place (it reports a trailing comma at the next token, hence one line of slack).
    malformed = [f.key for f in corpus.by_format("NOT valid JSON")]
    assert len(malformed) >= 10
    for key in malformed:
        reason = whole[key]
        m = re.fullmatch(r"not JSON: (.+): line (\d+) column (\d+) \(char \d+\)", reason)
        assert m, (key, reason)
        err = _stdlib_json_error(corpus.root / key)
        assert abs(int(m[2]) - err.lineno) <= 1, (key, reason, err)
    bad_format = "aws-cloudtrail-processing-library/SerializerTestFileBadJsonFormat.json"
    assert re.fullmatch(r"not JSON: .+: line 37 column 9 \(char 1293\)", whole[bad_format])
    assert whole["awsdocs-iam-user-guide/cloudtrail-integration__08.json.txt"].startswith(
        "not JSON: invalid escaped sequence in string: line 22 column 33"
    )
    for key in ["INVENTORY.tsv", "otrf-security-datasets/AWS_S3_HoneyBucketLogs.csv"]:
        assert whole[key].startswith("not JSON: ") and whole[key].endswith(
            "line 1 column 1 (char 0)"
        ), whole[key]
    sns = [f.key for f in corpus.by_format("SNS notification")]
    assert len(sns) == 2
    for key in sns:
        assert whole[key] == (
            "SNS notification, not a CloudTrail event "
            "(CloudTrail's notices only name new log files: ingest those instead)"
        )
    index = "panther-analysis/rule_test_events_index.ndjson"
    lines = (corpus.root / index).read_text().splitlines()
    first_keys = ", ".join(list(json.loads(lines[0]))[:5])
    assert whole[index] == (
        f"no CloudTrail events found in {len(lines)} items; first: "
        f"object is not a CloudTrail event (keys: {first_keys})"
    )


def test_digests_are_skipped_not_quarantined(ingested: Ingested) -> None:
    corpus = ingested.corpus
    info = ingested.lake.info(quarantine_limit=10_000)
    quarantined = {ingested.rel(q.uri) for q in info.quarantine}
    objects = {ingested.rel(o.uri): o for o in ingested.lake.state().objects.values()}
    for key in corpus.digest_keys:
        assert key not in quarantined
        assert objects[key].status == "skipped"
        assert objects[key].reason == "digest document"
    assert info.objects.get("skipped") == len(corpus.digest_keys)


def test_bad_events_are_quarantined_one_by_one(ingested: Ingested) -> None:
    """Events without a real eventTime are quarantined with their position and reason."""
    corpus = ingested.corpus
    objects = {ingested.rel(o.uri): o for o in ingested.lake.state().objects.values()}
    info = ingested.lake.info(quarantine_limit=10_000)
    listed: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for q in info.quarantine:
        if q.position is not None:
            assert q.reason.strip() and "\n" not in q.reason
            listed[ingested.rel(q.uri)].add((q.position, q.reason))
    for key, sample in corpus.files.items():
        if sample.rejected or sample.digest:
            continue
        expected = sample.expected_event_quarantine()
        assert objects[key].quarantined_count == len(expected), key
        assert listed[key] <= expected, (key, listed[key] - expected)
        assert len(listed[key]) == min(len(expected), 50), key  # ingest lists the first 50
    # Representative reasons, exactly.
    assert (0, "unparseable eventTime 'foo'") in listed[
        "airbnb-streamalert/classifier__cloudwatch__cloudwatch_cloudtrail.json"
    ]
    missfield = "aws-cloudtrail-processing-library/SerializerTestFileMissField.json"
    pos = [get_ci(e, "eventTime") for e in corpus.files[missfield].events].index(
        "ThisIsAWrongEventTime"
    )
    assert (pos, "unparseable eventTime 'ThisIsAWrongEventTime'") in listed[missfield]
    panther = "panther-analysis/rule_test_events.ndjson"
    pos = [get_ci(e, "eventTime") for e in corpus.files[panther].events].index("redacted")
    assert (pos, "unparseable eventTime 'redacted'") in listed[panther]
    # Logstash moved eventTime to @timestamp: none of these 103 events has an eventTime.
    otrf = "otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    assert objects[otrf].quarantined_count == len(corpus.files[otrf].events) == 103
    assert (0, "event without eventTime") in listed[otrf]


# --------------------------------------------------------------------------- 4. normalization


class _JsonText:
    """Expected compact JSON text: equal to a stored string that parses to ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str) or "\n" in other:
            return False
        try:
            return json.loads(other) == self.value
        except json.JSONDecodeError:
            return False

    def __repr__(self) -> str:
        return f"JSON({self.value!r})"

    __hash__ = None  # type: ignore[assignment]


def _expected_scalar(value: Any, column: str) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        low = value.strip().lower()
        if column in BOOL_COLUMNS and low in ("true", "false"):
            return low
        return value
    return _JsonText(value)


def _expected_value(
    value: Any, typ: pa.DataType, column: str, path: str, extra: dict[str, Any]
) -> Any:
    """What the lake should hold for ``value`` in a column of ``typ``; the rest goes to extra."""
    if value is None:
        return None
    if pa.types.is_string(typ):
        return _expected_scalar(value, column)
    if pa.types.is_map(typ):
        if not isinstance(value, dict):
            extra[path] = value
            return None
        return [
            (k, v if isinstance(v, str) or v is None else _JsonText(v)) for k, v in value.items()
        ]
    if pa.types.is_struct(typ):
        if not isinstance(value, dict):
            extra[path] = value
            return None
        children = {typ.field(i).name: typ.field(i).type for i in range(typ.num_fields)}
        out: dict[str, Any] = dict.fromkeys(children)
        taken: set[str] = set()
        for key, item in value.items():
            name = key.lower()
            if name not in children or name in taken:
                extra[f"{path}.{key}"] = item
                continue
            taken.add(name)
            out[name] = _expected_value(item, children[name], name, f"{path}.{key}", extra)
        return out
    if pa.types.is_list(typ):
        items = [value] if isinstance(value, dict) else value
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            extra[path] = value
            return None
        return [
            _expected_value(item, typ.value_type, column, f"{path}[{i}]", extra)
            for i, item in enumerate(items)
        ]
    raise AssertionError(f"unexpected column type {typ}")


def expected_row(event: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """The test's own statement of the mapping: columns by lowercase name, the rest in extra."""
    columns = {f.name: f.type for f in schema if f.name not in HELPER_COLUMNS}
    row: dict[str, Any] = dict.fromkeys(columns)
    extra: dict[str, Any] = {}
    taken: set[str] = set()
    for key, value in event.items():
        name = key.lower()
        if name not in columns or name in taken:
            extra[key] = value
            continue
        taken.add(name)
        row[name] = _expected_value(value, columns[name], name, key, extra)
    row["extra"] = _JsonText(extra) if extra else None
    return row


def _unambiguous(ingested: Ingested) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """eventID -> (source event, lake row) where both sides hold exactly one content."""
    contents, _ = _expected_groups(ingested.corpus)
    events = {}
    for _, event in ingested.corpus.valid_occurrences():
        eid = get_ci(event, "eventID")
        if isinstance(eid, str) and len(contents[eid]) == 1:
            events[eid] = event
    rows_by_id: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in ingested.rows:
        rows_by_id[row["eventid"]].append(row)
    return {
        eid: (event, rows_by_id[eid][0])
        for eid, event in events.items()
        if len(rows_by_id[eid]) == 1
    }


def test_column_names_are_athena_lowercase(ingested: Ingested) -> None:
    names = ingested.table.column_names
    assert names == [n.lower() for n in names]
    for name in ("useridentity", "eventtime", "requestparameters", "readonly", "extra"):
        assert name in names


def test_every_value_is_kept_in_its_column_or_in_extra(ingested: Ingested) -> None:
    """Nothing is lost: each source field is in its column (typed as Athena types it) or in
    ``extra`` under its dotted path, and ``extra`` holds nothing else."""
    pairs = _unambiguous(ingested)
    assert len(pairs) > 400
    schema = ingested.table.schema
    failures = []
    for eid, (event, row) in pairs.items():
        want = expected_row(event, schema)
        for name, value in want.items():
            if row[name] != value:
                failures.append(f"{eid} {row['sourcekey']} {name}: {row[name]!r} != {value!r}")
    assert not failures, f"{len(failures)} mismatches:\n" + "\n".join(failures[:20])


def _find(
    ingested: Ingested, source_prefix: str, test: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    for event, row in _unambiguous(ingested).values():
        if row["sourcekey"].startswith(source_prefix) and test(event):
            return event, row
    raise AssertionError(f"no unambiguous sample in {source_prefix} matches")


def test_spot_checks_on_real_samples(ingested: Ingested) -> None:
    # AssumedRole: the session issuer's user name is a nested struct field.
    event, row = _find(
        ingested,
        "stratus-red-team-detonation-logs/",
        lambda e: e["userIdentity"].get("type") == "AssumedRole",
    )
    issuer = event["userIdentity"]["sessionContext"]["sessionIssuer"]
    assert issuer["userName"]
    assert row["useridentity"]["sessioncontext"]["sessionissuer"]["username"] == issuer["userName"]

    # requestParameters: compact JSON text that loads back to exactly the original object.
    checked = 0
    for event, row in _unambiguous(ingested).values():
        params = event.get("requestParameters")
        if isinstance(params, dict) and params and "float" not in _types(params):
            assert json.loads(row["requestparameters"]) == params
            compact = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
            assert row["requestparameters"] == compact
            checked += 1
    assert checked > 300

    # A JSON string in a free-form field is stored as the plain string (Panther wrote these).
    # The event has no eventID, so it is found by its time and name.
    panther = ingested.corpus.files["panther-analysis/rule_test_events.ndjson"]
    (event,) = [e for e in panther.events if isinstance(e.get("requestParameters"), str)]
    (row,) = [
        r
        for r in ingested.rows
        if r["sourcekey"] == panther.key
        and r["eventid"] is None
        and (r["eventtime"], r["eventname"]) == (event["eventTime"], event["eventName"])
    ]
    assert row["requestparameters"] == event["requestParameters"]
    assert row == expected_row(event, ingested.table.schema) | _helpers(row)
    for name in ("responseElements", "serviceEventDetails"):
        (event,) = [e for e in panther.events if isinstance(e.get(name), str)]
        assert event[name].startswith("{\n")  # pretty JSON text inside a JSON string
        (row,) = [r for r in ingested.rows if r[name.lower()] == event[name]]
        assert row["sourcekey"] == panther.key

    # readOnly and managementEvent are 'true'/'false' text, whatever the source wrote.
    assert {r["readonly"] for r in ingested.rows} <= {"true", "false", None}
    assert {r["managementevent"] for r in ingested.rows} <= {"true", "false", None}
    event, row = _find(ingested, "panther-analysis/", lambda e: e.get("readOnly") == "True")
    assert row["readonly"] == "true"
    assert row["managementevent"] == "true"
    event, row = _find(ingested, "panther-analysis/", lambda e: e.get("readOnly") is False)
    assert row["readonly"] == "false"

    # sessionCredentialFromConsole: YAML turned it into boolean true; stored as 'true'.
    event, row = _find(
        ingested, "panther-analysis/", lambda e: e.get("sessionCredentialFromConsole") is True
    )
    assert row["sessioncredentialfromconsole"] == "true"
    _, row = _find(ingested, "awsdocs-athena", lambda e: "sessionCredentialFromConsole" in e)
    assert row["sessioncredentialfromconsole"] == "true"

    # Panther p_* enrichment fields are kept in extra, values intact.
    event, row = _find(ingested, "panther-analysis/", lambda e: "p_log_type" in e)
    extra = json.loads(row["extra"])
    assert {k: v for k, v in event.items() if k.startswith("p_")} == extra

    # The beats insight sample's typo key stays inside insightdetails (a free-form column).
    event, row = _find(ingested, "elastic-beats-filebeat-aws-cloudtrail/", lambda e: True)
    assert "insffightContext" in event["insightDetails"]
    stored = json.loads(row["insightdetails"])
    assert stored == event["insightDetails"] and "insffightContext" in stored
    assert row["extra"] is None

    # Odd values are stored verbatim, never parsed or refused.
    login = ingested.corpus.files["elastic-integrations-aws-cloudtrail/test-console-login-json.log"]
    creation = "userIdentity.sessionContext.attributes.creationDate"
    assert "20131102T010628Z" in {get_path(e, creation) for e in login.events}
    assert "20131102T010628Z" in {
        get_path(r, creation.lower()) for r in ingested.rows if r["sourcekey"] == login.key
    }
    odd_dates = [
        r
        for r in ingested.rows
        if r["responseelements"] and "Jan 01, 2019" in r["responseelements"]
    ]
    assert odd_dates, "the 'Jan 01, 2019 0:00:00 PM' createDate sample did not reach the lake"


def _helpers(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in HELPER_COLUMNS and k != "extra"}


def _types(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_types(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_types(v) for v in value)) if value else set()
    return {type(value).__name__}


def get_path(event: dict[str, Any], dotted: str) -> Any:
    node: Any = event
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def test_logstash_fields_go_to_extra(corpus: Corpus) -> None:
    """The OTRF capture lost eventTime to Logstash's @timestamp; with it restored, the Logstash
    fields are kept in extra."""
    path = (
        corpus.root / "otrf-security-datasets" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
    )
    event = json.loads(path.read_text().splitlines()[0])
    event["eventTime"] = event["@timestamp"]
    result = decode_object("otrf.json", json.dumps(event).encode())
    assert result.events == 1
    row = result.table.to_pylist()[0]
    assert json.loads(row["extra"]) == {
        "@version": event["@version"],
        "@timestamp": event["@timestamp"],
    }
    assert json.loads(row["requestparameters"]) == event["requestParameters"]


def test_eventtime_ts_and_partition_follow_event_time(ingested: Ingested) -> None:
    for row in ingested.rows:
        ts = parse_time(row["eventtime"])
        assert ts is not None, row["eventtime"]
        assert row["eventtime_ts"] == ts, (row["eventtime"], row["eventtime_ts"])
        assert row["event_date"] == ts.date().isoformat()
    forms = {("T" in r["eventtime"], r["eventtime"].endswith("Z")) for r in ingested.rows}
    assert (False, False) in forms and (True, True) in forms  # both spellings were exercised


# --------------------------------------------------------------------------- 5. plain readers


_PLAIN_READERS = textwrap.dedent(
    """
    import json, sys
    import duckdb
    import pyarrow.dataset as ds

    lake = sys.argv[1]
    con = duckdb.connect()
    sql = (
        "SELECT count(*), count(DISTINCT event_date), min(event_date), "
        f"any_value(typeof(event_date)) FROM read_parquet('{lake}/events/**/*.parquet', "
        "hive_partitioning=true, hive_types={'event_date': VARCHAR})"
    )
    n, days, first, typ = con.execute(sql).fetchall()[0]
    dataset = ds.dataset(f"{lake}/events", format="parquet", partitioning="hive")
    print(json.dumps({
        "duckdb": n, "days": days, "first": first, "type": typ,
        "pyarrow": dataset.count_rows(),
        "columns": dataset.schema.names,
        "trailscope_imported": any(m.startswith("trailscope") for m in sys.modules),
    }))
    """
)


def test_lake_is_readable_by_plain_duckdb_and_pyarrow(ingested: Ingested) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PLAIN_READERS, str(ingested.lake.root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["trailscope_imported"] is False
    assert got["duckdb"] == got["pyarrow"] == len(ingested.rows)
    days = {r["event_date"] for r in ingested.rows}
    assert got["days"] == len(days) and got["first"] == min(days)
    assert got["type"] == "VARCHAR"
    assert "event_date" in got["columns"] and "useridentity" in got["columns"]


# --------------------------------------------------------------------------- 6. fast vs slow


def _rows(data: bytes) -> tuple[list[dict[str, Any]], bool]:
    result = decode_object("sample", data)
    (outcome,) = result.outcomes
    return result.table.drop_columns(["sourcekey"]).to_pylist(), outcome.fast_path


def _semantic(row: dict[str, Any]) -> dict[str, Any]:
    """JSON text compared as JSON: number spelling (1e-05 vs 0.00001) is the writer's choice."""
    out = dict(row)
    for name in (*JSON_COLUMNS, "extra"):
        text = out.get(name)
        if isinstance(text, str):
            with contextlib.suppress(json.JSONDecodeError):
                out[name] = ("json", json.loads(text))
    return out


def test_processing_library_twins_decode_identically(corpus: Corpus) -> None:
    folder = corpus.root / "aws-cloudtrail-processing-library"
    gz, gz_fast = _rows((folder / "SerializerTestFileCompact.json.gz").read_bytes())
    compact, _ = _rows((folder / "SerializerTestFileCompact.json").read_bytes())
    pretty, pretty_fast = _rows((folder / "SerializerTestFile.json").read_bytes())
    assert len(gz) == 6
    assert gz == compact == pretty
    assert not pretty_fast
    # The compact file is not an ordinary trail file: 4 of its 6 records carry an unknown nested
    # key (sessionContext.attributes.key1), so the strict fast path hands it to the tolerant path.
    assert not gz_fast
    key1 = [json.loads(r["extra"]) for r in gz if r["extra"]]
    assert len(key1) == 4
    assert all(x["userIdentity.sessionContext.attributes.key1"] == "value1" for x in key1)
    # Each of its records alone, as a compact trail file (fast) and pretty-printed (slow).
    records = json.loads(
        gzip.decompress((folder / "SerializerTestFileCompact.json.gz").read_bytes())
    )
    fast = 0
    for record in records["Records"]:
        doc = {"Records": [record]}
        one_fast, is_fast = _rows(json.dumps(doc, separators=(",", ":")).encode())
        one_slow, slow_flag = _rows(json.dumps(doc, indent=2).encode())
        assert not slow_flag
        assert one_fast == one_slow
        fast += is_fast
    assert fast == 2


def test_fast_and_slow_paths_agree_on_every_sample_event(ingested: Ingested) -> None:
    """Every event of the corpus as a one-record compact trail file and pretty-printed.

    Each event is also tried with its unknown top-level fields dropped (Panther's ``p_*``,
    Logstash's ``@timestamp``), so that events the fast path would otherwise refuse, such as the
    ones with JSON strings in free-form fields, are compared too.
    """
    columns = set(ingested.table.column_names) - HELPER_COLUMNS
    fast = slow = exact = 0
    fast_string_fields = 0
    mismatches = []
    for key, sample in ingested.corpus.files.items():
        for event in sample.events:
            trimmed = {k: v for k, v in event.items() if k.lower() in columns}
            for variant in [event] if trimmed == event else [event, trimmed]:
                doc = {"Records": [variant]}
                compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
                a, a_fast = _rows(compact)
                b, b_fast = _rows(json.dumps(doc, indent=2).encode())
                assert not b_fast
                if not a_fast:
                    slow += 1
                    continue
                fast += 1
                fast_string_fields += any(isinstance(get_ci(variant, c), str) for c in JSON_COLUMNS)
                if a == b:
                    exact += 1
                elif [_semantic(r) for r in a] != [_semantic(r) for r in b] or (
                    "float" not in _types(variant)
                ):
                    mismatches.append(f"{key} {get_ci(variant, 'eventID')}")
    assert not mismatches, mismatches[:20]
    assert fast > 900, (fast, slow)
    assert exact >= fast - 10
    assert fast_string_fields >= 2


# --------------------------------------------------------------------------- 1. workers / reruns


def test_two_workers_and_a_rerun_give_the_same_lake(ingested: Ingested, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake2")
    summary = lake.ingest(str(ingested.source), workers=2)
    assert summary.events_added == ingested.summary.events_added
    assert summary.quarantined_objects == ingested.summary.quarantined_objects
    assert summary.quarantined_events == ingested.summary.quarantined_events
    table = read_lake(lake)

    def content(t: pa.Table) -> Counter[str]:
        rows = t.drop_columns(["eventtime_ts"]).to_pylist()
        return Counter(json.dumps(r, sort_keys=True, default=str) for r in rows)

    assert content(table) == content(ingested.table)
    again = lake.ingest(str(ingested.source), workers=2)
    assert again.already_ingested == again.listed == len(ingested.corpus.files)
    assert again.events_added == 0 and again.read == 0
    assert read_lake(lake).num_rows == table.num_rows
