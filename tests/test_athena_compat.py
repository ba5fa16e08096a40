"""Athena compatibility acceptance: every public Athena CloudTrail query in the corpus runs.

The corpus is ``shared/samples/athena-queries/`` beside the checkout (or
``$TRAILSCOPE_SAMPLES_QUERIES``): one statement per file, taken verbatim from the AWS docs, the
AWS incident-response playbooks, the AWS security analytics bootstrap, Invictus and Looker, with
a ``-- source:`` first line. Each SELECT runs against one lake that holds both the real sample
events and a synthetic trail; a query that returns no rows (placeholders such as 'START_TIME' or
2021 dates) still counts as running. DDL, INSERT, CTAS and ALTER files are not run: they must be
refused with a message that says so.

The test prints a table (file -> runs, or the reason it does not) and pins the pass count.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pytest

from trailscope import Lake
from trailscope.sql import QueryError
from trailscope.synth import synth_trail

pytestmark = pytest.mark.slow

QUERIES_ENV = "TRAILSCOPE_SAMPLES_QUERIES"
DEFAULT_QUERIES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "athena-queries"
QUERIES = Path(os.environ[QUERIES_ENV]).expanduser() if os.environ.get(QUERIES_ENV) else None
EVENTS = Path(__file__).resolve().parents[2] / "shared" / "samples" / "events"

#: SELECT queries in the default corpus (its other 8 files are DDL/CTAS/INSERT/ALTER); all run.
EXPECTED_PASS = 88

_NOT_QUERIES = {"CREATE", "INSERT", "ALTER", "DROP", "MSCK", "DELETE", "UPDATE", "MERGE"}
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _queries_dir() -> Path:
    return QUERIES if QUERIES is not None else DEFAULT_QUERIES


def _first_keyword(text: str) -> str:
    """The statement's first word, read without trailscope's parser."""
    words = _COMMENTS.sub(" ", text).split()
    return words[0].upper().strip("(") if words else ""


@pytest.fixture(scope="module")
def corpus() -> dict[str, str]:
    """File name -> text; empty when the folder is missing (the tests then fail, see _need)."""
    folder = _queries_dir()
    files = sorted(folder.glob("*.sql")) if folder.is_dir() else []
    return {f.name: f.read_text(encoding="utf-8") for f in files}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake | None:
    if not EVENTS.is_dir():
        return None
    root = tmp_path_factory.mktemp("athena-compat")
    trail = root / "trail"
    synth_trail(trail, events=5000, seed=3, days=3)
    lk = Lake(root / "lake")
    lk.ingest(str(EVENTS), workers=1)
    lk.ingest(str(trail), workers=1)
    return lk


def _need(corpus: dict[str, str], *, events: bool = True) -> None:
    """Fail (never skip, and in the test rather than a fixture) when the samples are missing."""
    if not corpus:
        pytest.fail(
            f"the Athena query corpus is missing: no *.sql in {_queries_dir()} (set "
            f"{QUERIES_ENV} to the athena-queries folder, or check out shared/samples/ beside "
            "the repository)",
            pytrace=False,
        )
    if events and not EVENTS.is_dir():
        pytest.fail(f"the sample events are missing: {EVENTS}", pytrace=False)


def _selects(corpus: dict[str, str]) -> dict[str, str]:
    return {n: t for n, t in corpus.items() if _first_keyword(t) not in _NOT_QUERIES}


def test_every_file_names_its_source(corpus) -> None:
    _need(corpus, events=False)
    unsourced = [n for n, t in corpus.items() if not t.startswith("-- source:")]
    assert not unsourced, f"files without a '-- source:' first line: {unsourced}"


def test_every_select_runs(corpus, lake, capsys) -> None:
    _need(corpus)
    outcome: dict[str, str] = {}
    for name, sql in _selects(corpus).items():
        try:
            table = lake.query(sql, timeout=60)
        except QueryError as exc:
            outcome[name] = "FAILS: " + str(exc).splitlines()[0]
        except Exception as exc:  # reported in the table, then the test fails
            outcome[name] = f"CRASH: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            outcome[name] = f"runs ({table.num_rows} rows)"
    for name, sql in corpus.items():
        if name not in outcome:
            outcome[name] = f"not run ({_first_keyword(sql)}: refused, see the next test)"
    passed = sum(v.startswith("runs") for v in outcome.values())
    width = max(map(len, outcome))
    lines = [f"{'query':<{width}}  result", f"{'-' * width}  ------"]
    lines += [f"{name:<{width}}  {outcome[name]}" for name in sorted(outcome)]
    lines.append(f"{passed} of {len(_selects(corpus))} queries run ({len(corpus)} files)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    failures = {n: v for n, v in outcome.items() if v.startswith(("FAILS", "CRASH"))}
    assert not failures, "queries that do not run:\n" + "\n".join(
        f"  {n}: {v}" for n, v in failures.items()
    )
    assert passed == len(_selects(corpus))
    if QUERIES is None:  # the published number is for the default corpus
        assert passed == EXPECTED_PASS


def test_statements_that_are_not_queries_are_refused(corpus, lake) -> None:
    _need(corpus)
    refused = {n: t for n, t in corpus.items() if _first_keyword(t) in _NOT_QUERIES}
    if QUERIES is None:
        assert len(refused) == len(corpus) - EXPECTED_PASS
    for name, sql in refused.items():
        kind = _first_keyword(sql)
        with pytest.raises(QueryError, match=f"only queries can run here, not {kind}"):
            lake.query(sql)
        assert name  # each one checked


def test_results_match_plain_duckdb_on_the_lake_files(corpus, lake) -> None:
    """Spot checks that 'runs' means the right answer: counts computed without trailscope."""
    _need(corpus)
    files = sorted(str(p) for p in (lake.root / "events").rglob("*.parquet"))
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW raw AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true, "
        "hive_types = {'event_date': VARCHAR})"
    )

    def count(where: str) -> int:
        return con.execute(f"SELECT count(*) FROM raw WHERE {where}").fetchone()[0]

    days = {p.name for p in (lake.root / "events").iterdir() if p.name.startswith("event_date=")}
    partitions = lake.query(corpus["awsdocs-athena-partitions-metadata-table.sql"])
    assert partitions.num_rows == len(days) > 1
    assert partitions.column("partition_number").to_pylist() == list(range(1, len(days) + 1))

    misuse = lake.query(corpus["invictus-aws-aws_sts_assumerole_misuse.sql"])
    expected = count(
        "useridentity.type = 'AssumedRole' AND useridentity.sessioncontext.sessionissuer.type "
        "= 'Role'"
    )
    assert misuse.num_rows == expected > 0

    logins = lake.query(corpus["looker-aws_cloudtrail_block-user_login_facts.sql"])
    assert sum(logins.column("number_of_console_logins").to_pylist()) == count(
        "eventname = 'ConsoleLogin'"
    )
    failed = sum(logins.column("failed_logins").to_pylist())
    assert failed == count("eventname = 'ConsoleLogin' AND errorcode = 'AccessDenied'")
