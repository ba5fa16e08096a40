"""The README's Python example pasted into a file and run as a script: no
``if __name__ == "__main__":`` guard, and ingest still uses its worker processes.

Before, each spawned worker ran the script again while it started, that second run started
an ingest of its own inside the worker, and the pool died with ``BrokenProcessPool``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


def readme_python_example() -> str:
    """The README's "From Python" example, exactly as a user would paste it."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_python_example_runs_as_a_script(
    tmp_path: Path, s3_server: str, s3_client: Any
) -> None:
    """Pasted into a file as it stands, with its bucket served by an S3 API on loopback (the
    endpoint comes from AWS_ENDPOINT_URL_S3, as for any boto3 program)."""
    trail = tmp_path / "trail"  # few objects: every one is a request to the server
    synth_trail(
        trail, events=3000, seed=4, accounts=1, regions=("us-east-1",), days=2, digests=False
    )
    example = readme_python_example()
    buckets = set(re.findall(r"s3://([a-z0-9.-]+)/AWSLogs/", example))
    assert buckets, "the README's example ingests a trail bucket"
    for bucket in buckets:
        s3_client.create_bucket(Bucket=bucket)
        for path in sorted(p for p in (trail / "AWSLogs").rglob("*") if p.is_file()):
            key = path.relative_to(trail).as_posix()
            s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    # A small trail behaves like a big one (several batches, so the worker pool runs), and
    # the pool's start is reported on stderr when the script ends.
    preamble = textwrap.dedent(
        """\
        import atexit, sys, trailscope
        from trailscope.lake import ingest
        trailscope.Lake.ingest.__kwdefaults__["batch_bytes"] = 65536
        class Watched(ingest.PoolRunner):
            def start(self, source, storage):
                if self._pool is None:
                    print("pool started", file=sys.stderr)
                super().start(source, storage)
        ingest.PoolRunner = Watched
        """
    )
    script = tmp_path / "run" / "example.py"
    script.parent.mkdir()
    script.write_text(preamble + example)
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": s3_server, "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    added, quarantined = done.stdout.splitlines()[0].split()
    assert int(added) > 3000
    assert quarantined == "0"
    assert done.stderr.count("pool started") == 1
