"""The README's tour, as written there, on the tour's own lake: every command that reads the
lake prints rows, or says that its window misses the lake (never an empty answer in silence).

The commands are read from README.md's code blocks, so a command added to the tour is tested
without touching this file. Commands that need the cloud (s3://, Athena, Spark), a file the
reader brings (-f hunt.sql, a PEM key) or stand for any query ("SELECT ...") are left out.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailscope.cli import app
from trailscope.exitcodes import ExitCode

pytestmark = pytest.mark.slow

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SIGMA = ROOT.parent / "shared" / "samples" / "sigma"
READING = ("query", "queries", "run", "detect", "lake info")
NEEDS_ELSEWHERE = ("...", "s3://", "s3a://", "--engine", " -f ", "--public-key", "hunt.sql")
MISSES = "the window misses the lake"


def tour_commands() -> list[list[str]]:
    """Every ``trailscope`` command line in README.md's code blocks (continued lines joined)."""
    text = (ROOT / "README.md").read_text()
    commands: list[list[str]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending} {line.strip()}" if pending else line.strip()
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on on the next line
                continue
            pending = ""
            if words[:1] == ["trailscope"]:
                commands.append(words[1:])
    return commands


def reading_commands() -> list[list[str]]:
    chosen = []
    for words in tour_commands():
        line = " " + " ".join(words) + " "
        if not any(line.startswith(f" {r} ") for r in READING):
            continue
        if any(mark in line for mark in NEEDS_ELSEWHERE):
            continue
        chosen.append(words)
    return chosen


def test_the_tour_has_the_commands_the_issue_names() -> None:
    firsts = {w[0] for w in reading_commands()}
    assert {"query", "queries", "run", "detect", "lake"} <= firsts


@pytest.fixture(scope="module")
def tour_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tour's 'Build a lake' lines, as written, but a smaller trail (same seed)."""
    root = tmp_path_factory.mktemp("tour")
    built = 0
    for words in tour_commands():
        if words[:1] == ["synth"]:
            words = [w.replace("200000", "6000") for w in words]
        elif words[:1] != ["ingest"] or not words[1].startswith("./"):
            continue
        args = [w.replace("./", f"{root}/", 1) if w.startswith("./") else w for w in words]
        if args[0] == "ingest":
            args += ["--workers", "1"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        built += 1
    assert built == 2  # the synth and the local ingest of the tour
    return root / "lake"


@pytest.mark.parametrize("words", reading_commands(), ids=lambda w: " ".join(w)[:60])
def test_each_tour_command_prints_rows_or_says_the_window_misses(
    tour_lake: Path, words: list[str]
) -> None:
    args = [_here(w, tour_lake) for w in words]
    result = runner.invoke(app, args, env={"TRAILSCOPE_LAKE": str(tour_lake), "COLUMNS": "200"})
    allowed = {ExitCode.OK} | ({ExitCode.FINDINGS} if "--fail-on" in args else set())
    assert result.exit_code in allowed, result.output
    stderr = " ".join(result.stderr.split())
    if MISSES in stderr:
        assert "the lake's events run from" in stderr
        return
    shown = re.search(r"^([\d,]+) rows", result.stderr, flags=re.MULTILINE)
    if shown is not None:  # a terminal table: the count is on stderr
        assert int(shown.group(1).replace(",", "")) > 0, result.output
    else:  # a header (or a title) and rows
        assert len([line for line in result.stdout.splitlines() if line.strip()]) > 1


def _here(word: str, lake: Path) -> str:
    """The tour's relative paths, for this test: its lake, and SigmaHQ's AWS rules (the shared
    samples keep them in one folder)."""
    if word == "./lake":
        return str(lake)
    return str(SIGMA) if word.startswith("./sigma/") else word
