"""Bad input never stops a run, never loses a good event, never doubles one.

Every case of ``badinput`` (one line each) goes through a real ingest into a real lake: the
content cases from a local folder (by the CLI, as a user without privileges, so permissions are
real) and again from an S3 bucket (moto's server), the file-system cases from the folder only.
For each case the lake must hold exactly the case's good events, once each, and list exactly
the case's quarantine, reason for reason. Expectations are computed by ``badinput`` from the
events it wrote, never by trailscope's decoder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from badinput import CAP, CHANGING, CONTENT, LOCAL, Built, Case, Kit, compact, gz, gz_stream
from trailfiles import trail_events

from trailscope import Lake, open_lake
from trailscope.sources import LocalSource
from trailscope.synth import synth_trail


@dataclass
class Run:
    """A corpus built on disk and ingested: what each case expects and what the lake holds."""

    root: str  # what quarantine URIs and source keys start with
    built: dict[str, Built]
    lake: Path
    summary: dict[str, Any]
    exit_code: int

    def quarantine(self) -> dict[str, dict[tuple[str, int | None], str]]:
        """Per case: (file, position) -> reason, as ``lake info`` lists them."""
        out: dict[str, dict[tuple[str, int | None], str]] = {}
        for entry in open_lake(self.lake).info(quarantine_limit=100_000).quarantine:
            assert entry.uri.startswith(self.root), entry.uri
            case, _, name = entry.uri[len(self.root) :].partition("/")
            cases = out.setdefault(case, {})
            assert (name, entry.position) not in cases, f"listed twice: {entry}"
            cases[(name, entry.position)] = entry.reason
        return out

    def rows(self) -> dict[str, Counter[str]]:
        """Per case: the event ids in the lake (from plain Parquet, not trailscope)."""
        files = sorted(str(p) for p in (self.lake / "events").rglob("*.parquet"))
        out: dict[str, Counter[str]] = {}
        if not files:
            return out
        query = f"SELECT sourcekey, eventid FROM read_parquet({files!r})"
        prefix = self.root.removeprefix("s3://").partition("/")[2] if "://" in self.root else ""
        for key, eid in duckdb.sql(query).fetchall():
            case = key.removeprefix(prefix).split("/", 1)[0]
            out.setdefault(case, Counter())[eid] += 1
        return out


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Distinct realistic events, from a synthetic trail read back with gzip and json."""
    root = tmp_path_factory.mktemp("synth")
    synth_trail(
        root, events=1500, seed=5, days=1, accounts=1, incidents=False,
        redeliver_fraction=0, digests=False, insights=False,
    )  # fmt: skip
    return list({e["eventID"]: e for e in trail_events(root)}.values())


def build(cases: list[Case], kit: Kit, dest: Path) -> dict[str, Built]:
    built = {}
    for case in cases:
        built[case.name] = out = case.build(kit)
        folder = dest / case.name
        folder.mkdir(parents=True)
        for name, data in out.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                data(path)
    return built


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("bad-input")
    yield path
    for folder, dirs, _ in os.walk(path):  # the corpus's locked folders, for pytest to remove
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)


def unprivileged() -> list[str]:
    """A command prefix under which file permissions apply: root reads every file whatever
    its mode, so as root the child runs without the capabilities that let it (it stays root
    otherwise, and so can still run this interpreter)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs util-linux's setpriv to test file permissions")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def ingest_cli(source: Path, lake: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """``trailscope ingest`` in a child process, where file permissions apply."""
    proc = subprocess.run(
        [
            *unprivileged(),
            *(sys.executable, "-m", "trailscope", "ingest", str(source), "--lake", str(lake)),
            *("--max-object-size", f"{CAP >> 20}MB", "--workers", "2", "--json", *extra),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=600,
        check=False,
    )
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def local_run(events: list[dict[str, Any]], workdir: Path) -> Run:
    kit = Kit(events)
    source = workdir / "corpus"
    built = build(CONTENT + LOCAL, kit, source)
    code, summary = ingest_cli(source, workdir / "lake")
    return Run(str(source) + os.sep, built, workdir / "lake", summary, code)


ALL = CONTENT + LOCAL


def test_the_corpus_has_at_least_sixty_cases() -> None:
    assert len(ALL) + len(CHANGING) >= 60
    assert len({c.name for c in ALL + CHANGING}) == len(ALL) + len(CHANGING)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c.name for c in ALL])
def test_each_case_keeps_its_good_events_once_and_quarantines_exactly(
    local_run: Run, case: str
) -> None:
    expected = local_run.built[case]
    assert local_run.quarantine().get(case, {}) == expected.quarantine
    assert local_run.rows().get(case, Counter()) == Counter(expected.keep)


@pytest.mark.slow
def test_the_run_reports_every_problem_and_exits_3(local_run: Run) -> None:
    whole = sum(1 for b in local_run.built.values() for _, pos in b.quarantine if pos is None)
    single = sum(1 for b in local_run.built.values() for _, pos in b.quarantine if pos is not None)
    assert local_run.exit_code == 3
    assert local_run.summary["quarantined_objects"] == whole
    assert local_run.summary["quarantined_events"] == single
    kept = sum(len(b.keep) for b in local_run.built.values())
    assert local_run.summary["events_added"] == kept
    assert sum(sum(c.values()) for c in local_run.rows().values()) == kept
    skipped = sum(len(b.skipped) for b in local_run.built.values())
    assert local_run.summary["skipped"] == {"other": skipped}


@pytest.mark.slow
def test_a_second_run_adds_nothing_and_tries_again_what_could_not_be_read(
    local_run: Run,
) -> None:
    before = local_run.quarantine()
    code, summary = ingest_cli(Path(local_run.root), local_run.lake)
    assert code == 3
    assert summary["events_added"] == 0
    # What could not be read (permissions, links, a folder) is read again, and fails again;
    # everything else is already in the lake.
    unreadable = {
        "permission denied",
        "cannot list folder (permission denied)",
        "broken symbolic link",
        "Too many levels of symbolic links",
    }
    retried = [r for entries in before.values() for r in entries.values() if r in unreadable]
    assert len(retried) == 5
    assert summary["read"] == len(retried)
    assert local_run.quarantine() == before


@pytest.mark.slow
def test_kept_values_are_stored_exactly(local_run: Run) -> None:
    files = sorted(str(p) for p in (local_run.lake / "events").rglob("*.parquet"))
    rows = duckdb.sql(
        f"SELECT sourcekey, requestparameters, useragent, eventname FROM read_parquet({files!r})"
    ).fetchall()
    by_case: dict[str, list[tuple[str, Any, Any, Any]]] = {}
    for key, params, agent, name in rows:
        by_case.setdefault(key.split("/")[0], []).append((key, params, agent, name))
    # Integers of any size, on both paths.
    for case, digits in [
        ("integer-30-digits-pretty", 30),
        ("integer-30-digits-compact", 30),
        ("integer-5000-digits", 5000),
    ]:
        assert ('{"n":' + "9" * digits + "}") in [p for _, p, _, _ in by_case[case]], case
    agents = {a for case in ("surrogate-pair", "nul-in-string") for _, _, a, _ in by_case[case]}
    assert {"\U0001f600", "a\x00b"} <= agents
    assert "Second" in [n for _, _, _, n in by_case["duplicate-keys"]]  # the last one wins
    names = {k for k, _, _, _ in by_case["names"]}
    assert {"names/caf\\xe9.json", "names/d\\xff/in.json", "names/new\nline.json"} <= names


@pytest.fixture(scope="module")
def s3_run(events: list[dict[str, Any]], s3_server: str, workdir: Path) -> Run:
    import boto3

    kit = Kit(events)
    source = workdir / "s3-corpus"
    built = build(CONTENT, kit, source)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = "bad-input"
    client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = "exports/" + path.relative_to(source).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    lake = workdir / "s3-lake"
    summary = Lake(lake).ingest(
        f"s3://{bucket}/exports/", endpoint_url=s3_server, workers=1, max_object_bytes=CAP
    )
    return Run(f"s3://{bucket}/exports/", built, lake, summary.__dict__, 0)


@pytest.mark.slow
def test_an_s3_source_gives_every_content_case_the_same_outcome(s3_run: Run) -> None:
    quarantine, rows = s3_run.quarantine(), s3_run.rows()
    built = s3_run.built
    got = {c.name: (quarantine.get(c.name, {}), rows.get(c.name, Counter())) for c in CONTENT}
    want = {c.name: (built[c.name].quarantine, Counter(built[c.name].keep)) for c in CONTENT}
    assert got == want


@pytest.mark.parametrize("case", CHANGING, ids=[c.name for c in CHANGING])
def test_files_that_change_between_listing_and_reading(
    case: Case, events: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The objects are listed, then changed, then ingested as listed (as a Lambda handler
    ingests what a notification named): the reading sees the change."""
    kit = Kit(events)
    built = build([case], kit, tmp_path / "src")
    listed = list(LocalSource(tmp_path / "src").iter_objects())
    change = built[case.name]
    change_files(tmp_path / "src" / case.name, change)
    lake = Lake(tmp_path / "lake")
    lake.ingest(str(tmp_path / "src"), objects=listed, workers=1, max_object_bytes=CAP)
    run = Run(str(tmp_path / "src") + os.sep, built, tmp_path / "lake", {}, 0)
    assert run.quarantine().get(case.name, {}) == change.quarantine
    assert run.rows().get(case.name, Counter()) == Counter(change.keep)


def change_files(folder: Path, built: Built) -> None:
    for name, after in built.changes.items():
        path = folder / name
        if after is None:
            path.unlink()
        elif isinstance(after, bytes):
            path.write_bytes(after)
        else:
            after(path)


@pytest.mark.slow
def test_a_gzip_bomb_is_quarantined_in_bounded_memory(tmp_path: Path) -> None:
    """3 MB of gzip that expands to 3 GiB of whitespace: the ingest stays under 1 GB of
    memory (it stops decompressing at the limit) and goes on with the other files."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "bomb.json.gz").write_bytes(gz_stream(b" " * (64 << 20), 48))
    assert (source / "bomb.json.gz").stat().st_size < 4 << 20
    event = {"eventVersion": "1.08", "eventTime": "2024-07-17T10:00:00Z", "eventID": "ok"}
    (source / "good.json.gz").write_bytes(gz(compact([event])))
    script = (
        "import json, re, sys\n"
        "from trailscope import Lake, open_lake\n"
        "s = Lake(sys.argv[2]).ingest(sys.argv[1], workers=1)\n"
        "q = [(q.uri, q.reason) for q in open_lake(sys.argv[2]).info().quarantine]\n"
        # this process's own high-water mark: ru_maxrss would carry the forking test
        # process's peak over the exec
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())\n"
        "peak = int(hwm.group(1)) * 1024\n"
        "print(json.dumps({'peak': peak, 'added': s.events_added, 'quarantine': q}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(source), str(tmp_path / "lake")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["quarantine"] == [
        [str(source / "bomb.json.gz"), "larger than 256 MB when decompressed"]
    ]
    assert result["added"] == 1
    assert result["peak"] < 1 << 30, f"peak RSS {result['peak'] / 2**20:.0f} MB"
