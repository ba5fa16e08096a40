"""Side tables: small named tables committed beside ``cloudtrail`` through the commit log.

Each test reads back what it wrote through a path other than the one that wrote it (the
engine, a fresh Lake object, a checkpoint), and the race tests run real writers at once.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from trailscope import Lake, open_lake
from trailscope.errors import LakeError
from trailscope.lake.paths import TABLES_DIR

ACCOUNTS = pa.table({"account": ["111111111111", "222222222222"], "name": ["prod", "dev"]})


def _source(root: Path) -> Path:
    """One trail file of two events."""
    path = root / "AWSLogs/111111111111/CloudTrail/us-east-1/2024/07/01/a.json.gz"
    path.parent.mkdir(parents=True)
    events = [
        {
            "eventVersion": "1.08",
            "eventID": str(uuid.UUID(int=i)),
            "eventTime": f"2024-07-01T10:00:0{i}Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers",
            "awsRegion": "us-east-1",
            "recipientAccountId": "111111111111",
        }
        for i in range(2)
    ]
    path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))
    return root


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lk = Lake(tmp_path / "lake")
    lk.ingest(str(_source(tmp_path / "src")), workers=1)
    yield lk
    lk.close()


def _add(name: str) -> Any:
    """A change that appends one account row named ``name``."""

    def change(current: pa.Table | None) -> pa.Table:
        row = pa.table({"account": [name], "name": [name]})
        return row if current is None else pa.concat_tables([current, row])

    return change


def test_a_table_never_written_reads_as_none_and_a_written_one_reads_back(lake: Lake) -> None:
    assert lake.read_table("accounts") is None
    seen: list[pa.Table | None] = []

    def change(current: pa.Table | None) -> pa.Table:
        seen.append(current)
        return ACCOUNTS

    commits = lake.state().commits
    assert lake.update_table("accounts", change, operation="accounts").equals(ACCOUNTS)
    assert seen == [None]
    assert open_lake(lake.location).read_table("accounts").equals(ACCOUNTS)
    state = lake.state()
    assert state.commits == commits + 1
    assert state.last_commit is not None and state.last_commit.operation == "accounts"
    # a second version replaces the first, whose file is retired
    first = state.tables["accounts"].path
    lake.update_table("accounts", _add("333333333333"), operation="accounts")
    assert lake.read_table("accounts").num_rows == 3
    assert not (Path(lake.location) / first).exists()
    assert len(list((Path(lake.location) / TABLES_DIR / "accounts").iterdir())) == 1


def test_every_engine_query_sees_side_tables_by_name(lake: Lake) -> None:
    lake.update_table("accounts", lambda _: ACCOUNTS, operation="accounts")
    joined = lake.query(
        "SELECT a.name, count(*) AS n FROM cloudtrail c JOIN accounts a "
        "ON c.recipientaccountid = a.account GROUP BY 1"
    )
    assert joined.to_pylist() == [{"name": "prod", "n": 2}]
    # the same Lake object sees a new version at its next query
    lake.update_table("accounts", lambda t: t.filter(pa.array([False, True])), operation="x")
    assert lake.query("SELECT name FROM accounts").to_pylist() == [{"name": "dev"}]


def test_a_readers_snapshot_is_one_commit(lake: Lake) -> None:
    """An engine opened at a state shows the side tables of that state, not newer ones."""
    lake.update_table("accounts", lambda _: ACCOUNTS, operation="accounts")
    engine = lake.engine()
    try:
        lake.update_table("accounts", _add("333333333333"), operation="accounts")
        assert engine.query("SELECT count(*) AS n FROM accounts").to_pylist() == [{"n": 2}]
    finally:
        engine.close()
    assert lake.query("SELECT count(*) AS n FROM accounts").to_pylist() == [{"n": 3}]


def test_side_tables_survive_checkpoints(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from trailscope.lake import manifest as manifest_mod

    monkeypatch.setattr(manifest_mod, "CHECKPOINT_EVERY", 3)
    for i in range(5):
        lake.update_table("findings", _add(f"f{i}"), operation="detect")
    # damage every commit before the checkpoint: the tables must come from the checkpoint
    state = lake.state()
    log = Path(lake.location) / "_trailscope" / "log"
    for path in sorted(log.glob("*.json")):
        if int(path.stem) <= state.version // 3 * 3 - 1:
            path.write_text("damaged")
    assert open_lake(lake.location).read_table("findings").column("name").to_pylist() == [
        f"f{i}" for i in range(5)
    ]


def test_unknown_names_and_bad_changes_are_refused_and_leave_nothing(lake: Lake) -> None:
    with pytest.raises(LakeError) as info:
        lake.update_table("cloudtrail", lambda _: ACCOUNTS, operation="x")
    assert info.value.message == "no side table named 'cloudtrail'"
    assert "accounts" in (info.value.hint or "")

    def boom(_: pa.Table | None) -> pa.Table:
        raise RuntimeError("boom")

    commits = lake.state().commits
    with pytest.raises(RuntimeError):
        lake.update_table("accounts", boom, operation="x")
    assert lake.state().commits == commits
    assert not list(Path(lake.location).rglob("*.tmp"))


def test_concurrent_local_updates_wait_for_the_lock_and_all_land(lake: Lake) -> None:
    names = [f"acct{i}" for i in range(6)]
    failures: list[BaseException] = []

    def write(name: str) -> None:
        try:
            Lake(lake.location).update_table("accounts", _add(name), operation="accounts")
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(lake.read_table("accounts").column("name").to_pylist()) == names


@pytest.mark.slow
def test_concurrent_s3_writers_reapply_their_change_after_losing_a_race(
    s3_server: str, s3_bucket: tuple[str, str]
) -> None:
    """S3 lakes have no lock: each writer that loses a commit race re-reads the winner's
    version and applies its change again, so no update is lost."""
    _, bucket = s3_bucket
    uri = f"s3://{bucket}/lake"
    Lake(uri, endpoint_url=s3_server).update_table("findings", _add("first"), operation="t")
    names = [f"w{i}" for i in range(6)]
    calls: list[str] = []
    start = threading.Barrier(len(names))

    def write(name: str) -> None:
        change = _add(name)

        def counted(current: pa.Table | None) -> pa.Table:
            calls.append(name)
            return change(current)

        lk = Lake(uri, endpoint_url=s3_server)
        lk.state()
        start.wait()
        lk.update_table("findings", counted, operation="t")

    failures: list[BaseException] = []

    def run(name: str) -> None:
        try:
            write(name)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    got = Lake(uri, endpoint_url=s3_server).read_table("findings")
    assert got is not None
    assert sorted(got.column("name").to_pylist()) == sorted(["first", *names])
    assert len(calls) > len(names)  # at least one writer lost a race and applied again
