"""The README's Python example pasted into a file and run as a script: no
``if __name__ == "__main__":`` guard, and ingest still uses its worker processes.

Before, each spawned worker ran the script again while it started, that second run started
an ingest of its own inside the worker, and the pool died with ``BrokenProcessPool``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trailscope.synth import synth_trail


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("script-trail")
    synth_trail(root, events=3000, seed=3, events_per_file=16)
    return root


def run_script(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    script = folder / "example.py"
    script.write_text(textwrap.dedent(text))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_an_unguarded_script_ingests_with_workers_and_runs_once(
    trail: Path, tmp_path: Path
) -> None:
    done = run_script(
        tmp_path,
        f"""
        import os, trailscope
        from trailscope.lake import ingest

        started = []
        class Watched(ingest.PoolRunner):
            def start(self, source, storage):
                if self._pool is None:
                    started.append(self.workers)
                super().start(source, storage)
        ingest.PoolRunner = Watched  # how the run below makes its pool, watched

        print("script run in", os.getpid())
        lake = trailscope.Lake("./lake")
        summary = lake.ingest({str(trail)!r}, workers=2, batch_bytes=64 * 1024)
        print(summary.events_added, summary.quarantined_objects, started)
        info = trailscope.open_lake("./lake").info()
        print(info.events)
        table = lake.query("SELECT count(*) AS n FROM cloudtrail")
        print(table["n"][0].as_py())
        """,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout  # the script ran once: no worker ran it again
    assert lines[0].startswith("script run in ")
    added, quarantined, started = lines[1].split(" ", 2)
    assert started == "[2]"  # the pool was used, not the one-process path
    assert quarantined == "0"
    assert int(added) > 3000
    assert lines[2] == lines[3] == added


def test_a_guarded_script_whose_source_class_lives_in_it_still_works(
    trail: Path, tmp_path: Path
) -> None:
    """Workers that are sent a class of the script need the script: they get it, as spawn
    always gave it (the guard is what keeps that from starting a second run)."""
    done = run_script(
        tmp_path,
        f"""
        import trailscope
        from trailscope.sources.local import LocalSource

        class MySource(LocalSource):
            pass

        if __name__ == "__main__":
            summary = trailscope.Lake("./lake").ingest(
                MySource({str(trail)!r}), workers=2, batch_bytes=64 * 1024
            )
            print(summary.events_added, summary.quarantined_objects)
        """,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    added, quarantined = done.stdout.split()
    assert int(added) > 3000
    assert quarantined == "0"
