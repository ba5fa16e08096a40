"""DuckDB never writes a progress bar into the user's standard output.

DuckDB draws one on stdout for any query that runs longer than two seconds, even into a pipe,
so ``trailscope query --csv > out.csv`` would get it mixed into the CSV.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import trailscope
from trailscope import Lake
from trailscope.duckconn import connect
from trailscope.synth import synth_trail

PACKAGE = Path(trailscope.__file__).parent


def test_every_connection_has_the_progress_bar_off() -> None:
    con = connect({"threads": "1"})
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    assert con.cursor().execute("SELECT current_setting('enable_progress_bar')").fetchone() == (
        False,
    )


def test_no_module_opens_duckdb_another_way() -> None:
    """Every connection goes through ``duckconn.connect``, so none can forget the setting."""
    direct = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "duckconn.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bduckdb\.connect\(", line)
    ]
    assert direct == []


@pytest.mark.slow
def test_a_slow_query_writes_only_its_rows_to_stdout(tmp_path: Path) -> None:
    """A query of several seconds through the Python API, run as a script would, prints what
    the script prints and nothing else."""
    synth_trail(tmp_path / "trail", events=200, seed=1)
    Lake(tmp_path / "lake").ingest(str(tmp_path / "trail"), workers=1)
    script = f"""
from trailscope import Lake
rows = Lake({str(tmp_path / "lake")!r}).query(
    "SELECT count(*) AS n FROM range(30000000) a JOIN range(30000000) b ON a.range = b.range"
)
print(rows.column("n").to_pylist())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "[30000000]\n"
