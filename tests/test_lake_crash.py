"""kill -9 at every step of a commit, then a reader before any writer runs.

A child process ingests (or changes a side table) and SIGKILLs itself at one step of one
commit: before the commit (parts staged and durable), between the commit and its publication,
and in the middle of a compaction's publication (new parts published, merged ones not yet
retired). Then, before any writer runs, trailscope's reader must answer with exactly the events
of the source files the log records as ingested (worked out from the files themselves), and a
plain reader globbing ``events/**/*.parquet`` must see no duplicate; finally a re-run must end
with exactly the trail's events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from trailfiles import lake_event_ids, read_records, trail_events, unique_event_ids

from trailscope import Lake, open_lake
from trailscope.lake.lock import LOCK_FILE, WriterLock
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow

#: The child: ingest (or a side-table change) that kills itself at ``KILL_AT``, a step of
#: the protocol and the how-manieth time it is reached: ``append:N`` (just before commit N
#: of the run is created), ``publish:OP:N`` (just after the N-th commit of operation OP, before
#: its files are published), ``retire:OP:N`` (after the N-th publication of OP renamed its new
#: files, before it deletes the ones replaced).
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow as pa
    from trailscope import Lake
    from trailscope.lake import manifest, publish, transaction

    step, *rest = os.environ["KILL_AT"].split(":")
    op, n = (rest[0], int(rest[1])) if len(rest) == 2 else (None, int(rest[0]))
    seen = [0]

    def reached():
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if step == "append":
        append = manifest.Manifest.append
        def killing_append(self, state, commit):
            reached()
            return append(self, state, commit)
        manifest.Manifest.append = killing_append
    else:
        publish_files = transaction.Transaction._publish
        def killing_publish(self):
            if self.operation != op:
                return publish_files(self)
            if step == "publish":
                reached()
                return publish_files(self)
            c = self.commit_record
            publish.publish(self.storage, c.published_paths(), [])
            reached()
            return publish_files(self)
        transaction.Transaction._publish = killing_publish

    if __name__ == "__main__":
        lake = Lake(sys.argv[1])
        if sys.argv[2] == "table":
            row = pa.table({"account": ["1"], "name": ["one"]})
            lake.update_table("accounts", lambda cur: row, operation="accounts")
        else:
            lake.ingest(sys.argv[2], workers=1, batch_bytes=60_000)
    """
)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-trail")
    synth_trail(root, events=3000, seed=5, days=3, accounts=1, redeliver_fraction=0.02)
    return root


def _kill_at(lake: Path, source: str, where: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.run(
        [sys.executable, str(script), str(lake), source],
        env={**os.environ, "KILL_AT": where},
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


def _expected_from_log(lake: Path) -> Counter:
    """The events of the source files the log records as ingested, read from those files."""
    state = Lake(lake).manifest.load()  # the log alone: no reader's help
    events = [
        ev
        for obj in sorted(state.objects.values(), key=lambda o: o.uri)
        if obj.status == "ingested"
        for ev in read_records(Path(obj.uri))
    ]
    return unique_event_ids(events)


def _reader_answers_the_committed_state(lake: Path) -> Counter:
    expected = _expected_from_log(lake)
    with open_lake(lake) as reader:
        rows = reader.query("SELECT eventid FROM cloudtrail").column(0).to_pylist()
        assert reader.info().events == sum(expected.values())
    assert Counter(rows) == expected
    assert lake_event_ids(lake) == expected  # and a plain globbing reader, after it
    return expected


@pytest.mark.parametrize(
    ("where", "all_batches_in"),
    [
        ("append:3", False),  # parts of a batch staged and durable, no commit
        ("publish:ingest:3", False),  # a batch committed, its parts still staged
        ("publish:compact:1", True),  # a compaction committed, its merged part still staged
        ("retire:compact:1", True),  # a compaction's part published, merged ones still there
    ],
)
def test_kill_9_at_each_step_then_readers_see_exactly_the_committed_state(
    trail: Path, tmp_path: Path, where: str, all_batches_in: bool
) -> None:
    lake = tmp_path / "lake"
    _kill_at(lake, str(trail), where, tmp_path)
    partial = _reader_answers_the_committed_state(lake)
    total = sum(unique_event_ids(trail_events(trail)).values())
    assert 0 < sum(partial.values()) <= total
    assert (sum(partial.values()) == total) is all_batches_in
    Lake(lake).ingest(str(trail), workers=1)
    assert lake_event_ids(lake) == unique_event_ids(trail_events(trail))
    assert not list(lake.rglob("*.tmp"))


def test_a_reader_finds_parts_still_staged_while_a_writer_holds_the_lock(
    trail: Path, tmp_path: Path
) -> None:
    """A writer killed between commit and publish, then a lock holder that is not finishing
    it (another writer starting): the reader still answers from the staged parts."""
    lake = tmp_path / "lake"
    _kill_at(lake, str(trail), "publish:ingest:3", tmp_path)  # (1: the digests' commit)
    storage = Lake(lake).storage
    with WriterLock(storage, "ingest"):  # type: ignore[arg-type]
        expected = _expected_from_log(lake)
        with open_lake(lake) as reader:
            rows = reader.query("SELECT eventid FROM cloudtrail").column(0).to_pylist()
        assert Counter(rows) == expected and sum(expected.values()) > 0
        assert list(lake.rglob(".part-*.parquet.tmp"))  # nothing was published by the reader


def test_kill_9_during_a_side_table_commit_leaves_the_previous_version(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    before = pa.table({"account": ["0"], "name": ["zero"]})
    Lake(lake).update_table("accounts", lambda _: before, operation="accounts")
    _kill_at(lake, "table", "append:1", tmp_path)
    assert open_lake(lake).read_table("accounts").equals(before)
    _kill_at(lake, "table", "publish:accounts:1", tmp_path)
    got = open_lake(lake).read_table("accounts")
    assert got.column("name").to_pylist() == ["one"]
    assert len(list((lake / "tables" / "accounts").iterdir())) == 1


def test_the_lock_holds_when_its_file_is_deleted(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.update_table("accounts", lambda _: pa.table({"a": [1]}), operation="accounts")
    with WriterLock(lake.storage, "ingest"):  # type: ignore[arg-type]
        (tmp_path / "lake" / LOCK_FILE).unlink()
        from trailscope.errors import LakeLockedError

        with pytest.raises(LakeLockedError) as info:
            Lake(tmp_path / "lake").compact()
        assert str(info.value).startswith(f"lake {tmp_path / 'lake'} is being written by")
    assert Lake(tmp_path / "lake").compact() == 0  # released with its holder
