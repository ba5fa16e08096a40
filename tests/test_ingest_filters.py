"""Ingest filters kept in the lake: excluded sources and names, a --where condition, redacted
fields; through the CLI as a user types it and through the API.

Expectations come from the trail files themselves (plain gzip + json, see trailfiles.py) and
the real events of ../shared/samples, never from trailscope's code.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from trailfiles import lake_event_ids, trail_events, unique_event_ids
from typer.testing import CliRunner

from trailscope import Lake, open_lake
from trailscope.cli import app
from trailscope.lake.settings import FilterError, IngestFilters
from trailscope.synth import synth_trail

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "events"
STRATUS = SAMPLES / "stratus-red-team-detonation-logs"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filter-trail")
    synth_trail(root, events=3000, seed=11, days=2, accounts=2)
    return root


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _lake_rows(lake: Path, sql: str) -> list[tuple]:
    """Rows of a query over the lake's published Parquet files, with plain DuckDB."""
    files = sorted(str(p) for p in (lake / "events").rglob("*.parquet"))
    return duckdb.sql(sql.replace("LAKE", f"read_parquet({files!r})")).fetchall()


def _expected(trail: Path, keep: Any) -> tuple[Counter, int]:
    """Event ids a filtered lake must hold, and how many events (with re-delivered copies)
    the filter leaves out, computed from the files."""
    events = trail_events(trail)
    kept = [e for e in events if keep(e)]
    return unique_event_ids(kept), len(events) - len(kept)


def _not_s3_get(event: dict) -> bool:
    return event.get("eventSource") != "s3.amazonaws.com" and event.get("eventName") != "GetObject"


def test_cli_settings_then_ingest_leave_out_and_redact(trail: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = _invoke(
        "lake", "settings", "--lake", str(lake),
        "--exclude-source", "s3.amazonaws.com", "--exclude-event", "GetObject",
        "--redact", "useridentity.accesskeyid",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "exclude sources  s3.amazonaws.com" in result.stdout
    assert "redact           useridentity.accesskeyid" in result.stdout
    assert "already in the lake" not in result.stdout  # nothing there yet

    result = _invoke("ingest", str(trail), "--lake", str(lake), "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    ids, left_out = _expected(trail, _not_s3_get)
    assert left_out > 100  # the trail has S3 data events to leave out
    assert summary["filtered_events"] == left_out
    assert summary["quarantined_events"] == summary["quarantined_objects"] == 0
    assert lake_event_ids(lake) == ids
    assert _lake_rows(lake, "SELECT count(*) FROM LAKE WHERE eventsource = 's3.amazonaws.com'") == [
        (0,)
    ]
    # the key is gone, the rest of each identity is as the files say
    assert _lake_rows(lake, "SELECT count(useridentity.accesskeyid) FROM LAKE") == [(0,)]
    arns = dict(_lake_rows(lake, "SELECT eventid, useridentity.arn FROM LAKE"))
    source = {e["eventID"]: e.get("userIdentity", {}).get("arn") for e in trail_events(trail)}
    assert arns == {i: source[i] for i in arns}
    with_keys = [e for e in trail_events(trail) if e.get("userIdentity", {}).get("accessKeyId")]
    assert with_keys  # so the redaction had something to blank

    info = _invoke("lake", "info", "--lake", str(lake))
    assert "exclude events   GetObject" in info.stdout
    as_json = json.loads(_invoke("lake", "info", "--lake", str(lake), "--json").stdout)
    assert as_json["ingest_filters"] == {
        "exclude_sources": ["s3.amazonaws.com"],
        "exclude_events": ["GetObject"],
        "where": None,
        "redact": ["useridentity.accesskeyid"],
    }
    assert as_json["events"] == sum(ids.values())


def test_cli_where_keeps_only_console_activity(trail: Path, tmp_path: Path) -> None:
    """The Kibana recipe: console operations only, without access key ids."""
    lake = tmp_path / "lake"
    where = "useragent = 'console.amazonaws.com' OR eventname = 'ConsoleLogin'"
    result = _invoke(
        "ingest", str(trail), "--lake", str(lake), "--workers", "1", "--json",
        "--where", where, "--redact", "useridentity.accesskeyid", "--save",
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    def console(e: dict) -> bool:
        return e.get("userAgent") == "console.amazonaws.com" or e.get("eventName") == "ConsoleLogin"

    ids, left_out = _expected(trail, console)
    assert 0 < sum(ids.values()) < left_out
    assert lake_event_ids(lake) == ids
    assert json.loads(result.stdout)["filtered_events"] == left_out
    saved = open_lake(lake).ingest_filters()
    assert saved == IngestFilters(where=where, redact=("useridentity.accesskeyid",))


def test_api_where_over_nested_fields_on_real_events(tmp_path: Path) -> None:
    """Stratus Red Team's detonation logs (real events): a condition on a nested field."""
    source = tmp_path / "stratus"
    shutil.copytree(STRATUS, source)
    events = [e for p in sorted(source.glob("*.json")) for e in json.loads(p.read_text())]
    lake = Lake(tmp_path / "lake")
    lake.set_ingest_filters(
        IngestFilters(
            where="useridentity.type = 'AssumedRole' AND errorcode IS NULL",
            redact=("sourceipaddress", "useridentity.sessioncontext.sessionissuer.arn"),
        )
    )
    summary = lake.ingest(str(source), workers=1)

    def keep(e: dict) -> bool:
        return e.get("userIdentity", {}).get("type") == "AssumedRole" and not e.get("errorCode")

    expected = unique_event_ids([e for e in events if keep(e)])
    assert 0 < sum(expected.values()) < len(events)
    assert summary.quarantined_objects == 0
    assert lake_event_ids(tmp_path / "lake") == expected
    assert summary.filtered_events == len(events) - len([e for e in events if keep(e)])
    rows = _lake_rows(
        tmp_path / "lake",
        "SELECT count(sourceipaddress), count(useridentity.sessioncontext.sessionissuer.arn), "
        "count(useridentity.sessioncontext.sessionissuer.username), count(*) FROM LAKE",
    )
    issuers = sum(
        1
        for e in events
        if keep(e)
        and e.get("userIdentity", {})
        .get("sessionContext", {})
        .get("sessionIssuer", {})
        .get("userName")
    )
    assert rows == [(0, 0, issuers, sum(expected.values()))]


BAD_WHERE = [
    (
        "eventnam = 'ConsoleLogin'",
        'error: --where cannot run: Binder Error: Referenced column "eventnam" not found in '
        "FROM clause!\nhint: did you mean eventname?",
    ),
    (
        "useridentity.arnn = 'x'",
        'error: --where cannot run: Binder Error: Could not find key "arnn" in struct\n'
        "hint: did you mean useridentity.arn?",
    ),
    (
        "eventname = 'it''s",
        "error: --where is not valid SQL: cannot read the SQL: a string starts here and never "
        "ends (line 1, column 13)",
    ),
    ("count(*) > 1", "error: --where cannot use aggregate or window functions"),
    (
        "eventname IN (SELECT eventname FROM cloudtrail)",
        "error: --where cannot contain a subquery: it is decided for each event alone",
    ),
    (
        "1 = 1) UNION SELECT * FROM cloudtrail WHERE (1 = 1",
        "error: --where must be one condition, not a query or a clause of one",
    ),
    ("eventname", "error: --where must be true or false for each event, but it gives VARCHAR"),
    (
        "read_text('/etc/passwd') <> ''",
        "error: --where cannot run:",
    ),
]


@pytest.mark.parametrize(("where", "message"), BAD_WHERE)
def test_bad_where_is_refused_before_anything_changes(
    trail: Path, tmp_path: Path, where: str, message: str
) -> None:
    lake = tmp_path / "lake"
    Lake(lake).set_ingest_filters(IngestFilters(exclude_events=("GetObject",)))
    settings = (lake / "_trailscope" / "settings.json").read_bytes()
    result = _invoke("lake", "settings", "--lake", str(lake), "--where", where)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.output
    assert (lake / "_trailscope" / "settings.json").read_bytes() == settings
    # the same condition given to ingest: refused before a file is read
    result = _invoke("ingest", str(trail), "--lake", str(lake), "--where", where)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert open_lake(lake).state().commits == 0
    assert (lake / "_trailscope" / "settings.json").read_bytes() == settings


def test_bad_redact_and_save_without_filters(trail: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    cases = [
        (
            ["--redact", "useridentity.acesskeyid"],
            "error: --redact useridentity.acesskeyid: the lake has no field "
            "useridentity.acesskeyid\nhint: did you mean useridentity.accesskeyid?",
        ),
        (
            ["--redact", "eventid"],
            "error: --redact eventid: the lake needs this field in every event (duplicates "
            "are recognised by it)",
        ),
        (
            ["--redact", "requestparameters.bucketName"],
            "error: --redact requestparameters.bucketName: requestparameters is JSON text, so "
            "it can only be redacted whole\nhint: --redact requestparameters",
        ),
    ]
    for options, message in cases:
        result = _invoke("lake", "settings", "--lake", str(lake), *options)
        assert result.exit_code == 1
        assert result.stderr.startswith(message), result.stderr
        assert not (lake / "_trailscope" / "settings.json").exists()
    result = _invoke("ingest", str(trail), "--lake", str(lake), "--save")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --save has no filters to save")
    with pytest.raises(FilterError, match="--where must be one condition"):
        Lake(lake).set_ingest_filters(IngestFilters(where="1=1) LIMIT (1"))


def test_changing_settings_on_a_lake_with_data_says_what_happens(
    trail: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    Lake(lake).ingest(str(trail), workers=1)
    before = lake_event_ids(lake)
    result = _invoke("lake", "settings", "--lake", str(lake), "--exclude-event", "GetObject")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        f"The {sum(before.values()):,} events already in the lake are not changed, and events "
        "left out before are not brought back (their files are recorded as read); to apply "
        "new filters to everything, ingest the source into a new lake." in text
    )
    again = Lake(lake).ingest(str(trail), workers=1)
    assert again.events_added == again.filtered_events == 0
    assert lake_event_ids(lake) == before  # existing GetObject events stay
    same = _invoke("lake", "settings", "--lake", str(lake), "--exclude-event", "GetObject")
    assert "unchanged" in same.stdout
    cleared = _invoke("lake", "settings", "--lake", str(lake), "--clear")
    assert "ingest filters: none (every event is kept whole)" in cleared.stdout
    assert open_lake(lake).ingest_filters().empty


def test_saved_filters_apply_to_later_runs_and_run_filters_add_to_them(
    trail: Path, tmp_path: Path
) -> None:
    """Files split over two runs: the second applies the saved filters with no option, and a
    run's own options never undo a saved redaction."""
    first, second = tmp_path / "first", tmp_path / "second"
    files = sorted(trail.rglob("*.json.gz"))
    for i, path in enumerate(files):
        dest = (first if i % 2 else second) / path.relative_to(trail)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    lake = tmp_path / "lake"
    result = _invoke(
        "ingest", str(first), "--lake", str(lake), "--workers", "1",
        "--exclude-source", "s3.amazonaws.com", "--redact", "useridentity.accesskeyid", "--save",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = _invoke(
        "ingest", str(second), "--lake", str(lake), "--workers", "1", "--json",
        "--exclude-event", "ConsoleLogin",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ids_first, _ = _expected(first, lambda e: e.get("eventSource") != "s3.amazonaws.com")
    ids_second, _ = _expected(
        second,
        lambda e: (
            e.get("eventSource") != "s3.amazonaws.com" and e.get("eventName") != "ConsoleLogin"
        ),
    )
    both = unique_event_ids(
        [
            e
            for root, names in ((first, ()), (second, ("ConsoleLogin",)))
            for e in trail_events(root)
            if e.get("eventSource") != "s3.amazonaws.com" and e.get("eventName") not in names
        ]
    )
    assert ids_first and ids_second
    assert lake_event_ids(lake) == both
    assert _lake_rows(lake, "SELECT count(useridentity.accesskeyid) FROM LAKE") == [(0,)]
    # the run's own filter was not saved
    assert open_lake(lake).ingest_filters().exclude_events == ()


@pytest.mark.slow
def test_filters_apply_in_worker_processes_as_in_one(trail: Path, tmp_path: Path) -> None:
    filters = IngestFilters(
        exclude_events=("Describe*", "List*"),
        where="eventsource <> 'sts.amazonaws.com' OR useridentity.type = 'IAMUser'",
        redact=("resources.accountid",),
    )
    for name, workers in (("one", 1), ("two", 2)):
        lake = Lake(tmp_path / name)
        lake.set_ingest_filters(filters)
        lake.ingest(str(trail), workers=workers, batch_bytes=64 * 1024)
    one, two = tmp_path / "one", tmp_path / "two"
    assert lake_event_ids(one) == lake_event_ids(two)
    query = "SELECT eventid, eventname, resources FROM LAKE ORDER BY eventid, eventtime, eventname"
    assert _lake_rows(one, query) == _lake_rows(two, query)

    def keep(e: dict) -> bool:
        # SQL's NULL logic: an Insight event has no eventSource, so '<>' is not true for it
        name = e.get("eventName", "")
        return not name.startswith(("Describe", "List")) and (
            e.get("eventSource", "sts.amazonaws.com") != "sts.amazonaws.com"
            or e.get("userIdentity", {}).get("type") == "IAMUser"
        )

    ids, _ = _expected(trail, keep)
    assert lake_event_ids(one) == ids
    assert _lake_rows(
        one, "SELECT count(*) FROM (SELECT unnest(resources) AS r FROM LAKE) WHERE r.accountid "
        "IS NOT NULL"
    ) == [(0,)]  # fmt: skip


def test_repair_rebuilds_a_filtered_part_with_the_same_filters(trail: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    Lake(lake).set_ingest_filters(
        IngestFilters(exclude_sources=("s3.amazonaws.com",), redact=("useridentity.accesskeyid",))
    )
    Lake(lake).ingest(str(trail), workers=1)
    before = lake_event_ids(lake)
    part = sorted((lake / "events").rglob("*.parquet"))[0]
    part.unlink()
    # settings changed since: the rebuilt part still follows the filters of its own ingest
    Lake(lake).set_ingest_filters(IngestFilters())
    result = _invoke("lake", "repair", "--lake", str(lake), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rebuilt"]
    assert lake_event_ids(lake) == before
    assert _lake_rows(lake, "SELECT count(useridentity.accesskeyid) FROM LAKE") == [(0,)]


@pytest.mark.slow
def test_settings_on_an_s3_lake(
    trail: Path, s3_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 lake keeps its settings too (each Lambda invocation or watch cycle reads them)."""
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    uri = f"s3://{bucket}/lake/"
    result = _invoke("lake", "settings", "--lake", uri, "--exclude-source", "s3.amazonaws.com")
    assert result.exit_code == 0, result.output
    summary = Lake(uri).ingest(str(trail), workers=1)
    ids, left_out = _expected(trail, lambda e: e.get("eventSource") != "s3.amazonaws.com")
    assert summary.filtered_events == left_out
    assert summary.events_added == sum(ids.values())
    rows = Lake(uri).query("SELECT eventid FROM cloudtrail").column(0).to_pylist()
    assert Counter(rows) == ids
    shown = _invoke("lake", "settings", "--lake", uri, "--json")
    assert json.loads(shown.stdout)["ingest_filters"]["exclude_sources"] == ["s3.amazonaws.com"]


@pytest.mark.slow
def test_where_failing_on_a_value_stops_the_run_and_stores_nothing(
    trail: Path, tmp_path: Path
) -> None:
    """A condition that cannot be decided for some event (as Athena would fail the query)
    stops the ingest, from worker processes too: no event is kept or dropped by a filter
    that did not run, and fixing the condition ingests everything."""
    lake = tmp_path / "lake"
    result = _invoke(
        "ingest", str(trail), "--lake", str(lake), "--workers", "2",
        "--where", "CAST(eventname AS DATE) IS NULL",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --where failed on the events of AWSLogs/")
    assert "Conversion Error" in result.stderr
    assert "Traceback" not in result.output
    assert open_lake(lake).info().events == 0
    # the same from worker processes: the error crosses the process boundary whole
    with pytest.raises(FilterError, match=r"^--where failed on the events of AWSLogs/") as err:
        Lake(lake).ingest(
            str(trail),
            workers=2,
            batch_bytes=64 * 1024,
            filters=IngestFilters(where="CAST(eventname AS DATE) IS NULL"),
        )
    assert err.value.hint is not None and "try_cast" in err.value.hint
    assert open_lake(lake).info().events == 0
    result = _invoke(
        "ingest", str(trail), "--lake", str(lake), "--workers", "1", "--json",
        "--where", "try_cast(eventname AS DATE) IS NULL",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["filtered_events"] == 0
    assert lake_event_ids(lake) == unique_event_ids(trail_events(trail))


def test_damaged_settings_stop_ingest_until_cleared(trail: Path, tmp_path: Path) -> None:
    """Ingesting with filters that cannot be read would store what the owner meant to leave
    out: the run refuses, names the file's problem, and --clear repairs it."""
    lake = tmp_path / "lake"
    Lake(lake).set_ingest_filters(IngestFilters(redact=("useridentity.accesskeyid",)))
    (lake / "_trailscope" / "settings.json").write_text('{"ingest": {"redact": "oops')
    result = _invoke("ingest", str(trail), "--lake", str(lake))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the ingest settings of {lake} are damaged (")
    assert "hint: set them again with 'trailscope lake settings --clear ...'" in result.stderr
    assert open_lake(lake).state().commits == 0
    cleared = _invoke("lake", "settings", "--lake", str(lake), "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert open_lake(lake).ingest_filters().empty
