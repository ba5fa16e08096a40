"""Recall and false positives of the built-in rules, measured on test events nobody here wrote.

panther-analysis ships, with each of its CloudTrail rules, events its rule must flag
(true-positive tests) and events it must not (false-expected tests). The built-in rules here
were written from the behaviours (AWS API documentation, ATT&CK, Stratus Red Team), not from
Panther's code; this test measures how many of those events they flag, by Panther's severity
and tactic, and which false-expected events they call high, each listed with the reason it is
right for this project's rule. ``python -m pytest tests/test_detect_recall.py -s`` prints the
table that docs/detections.md quotes.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from detect_corpus import PantherTest, panther_lake, panther_tests

from trailscope.detect import Severity, run_detections
from trailscope.detect.attack import TACTICS

#: false-expected tests the built-ins call high or critical: (index line, rule) -> why right
EXPECTED_HIGH_ON_FALSE_TESTS = {
    (64, "guardduty-or-config-disabled"): (
        "the event deletes AWS Config's delivery channel; Panther uses it as a negative of its "
        "'Config created' rule, and this rule exists to flag exactly this"
    ),
    (88, "root-console-login"): (
        "a successful root console sign-in; Panther uses it as a negative of its failed-root-"
        "sign-in rule, and this rule flags every root sign-in"
    ),
    (141, "codebuild-project-public"): (
        "the event makes a CodeBuild project public; Panther uses it as an unrelated event of "
        "its traffic-mirroring rule"
    ),
}

_MEDIUM_UP = ("Medium", "High", "Critical")


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[PantherTest], dict]:
    tests = panther_tests()
    lake, _ = panther_lake(tmp_path_factory.mktemp("panther"), tests)
    report = run_detections(lake)
    assert report.unsupported == []
    hits: dict[str, set[tuple[str, Severity]]] = defaultdict(set)
    for finding in report.findings:
        for event_id in finding.event_ids:
            hits[event_id].add((finding.rule_id, finding.severity))
    return tests, hits


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def test_built_ins_flag_most_of_what_panther_rules_flag(flagged) -> None:
    tests, hits = flagged
    positives = [t for t in tests if t.expected]
    assert len(positives) == 217
    caught = [t for t in positives if hits.get(t.event_id)]
    assert _share(len(caught), len(positives)) >= 0.70, len(caught)
    # the rules of Medium severity or above that judge single events (no threshold)
    serious = [t for t in positives if t.severity in _MEDIUM_UP and t.threshold <= 1]
    caught_serious = [t for t in serious if hits.get(t.event_id)]
    assert _share(len(caught_serious), len(serious)) >= 0.85, len(caught_serious)


def _covered(tests: list[PantherTest], hits: dict, severity: str) -> tuple[set[str], set[str]]:
    rules = {t.rule_id for t in tests if t.severity == severity}
    covered = {
        t.rule_id for t in tests if t.severity == severity and t.expected and hits.get(t.event_id)
    }
    return rules, covered


def test_every_critical_and_nine_in_ten_high_panther_rules_are_covered(flagged) -> None:
    tests, hits = flagged
    critical, covered = _covered(tests, hits, "Critical")
    assert len(critical) == 4 and covered == critical
    high, covered = _covered(tests, hits, "High")
    assert len(high) == 31
    assert _share(len(covered), len(high)) >= 0.90, sorted(high - covered)


def test_false_expected_tests_called_high_are_the_listed_ones(flagged) -> None:
    tests, hits = flagged
    negatives = [t for t in tests if not t.expected]
    assert len(negatives) == 255
    high = {
        (t.line, rule)
        for t in negatives
        for rule, severity in hits.get(t.event_id, ())
        if severity >= Severity.HIGH
    }
    assert high == set(EXPECTED_HIGH_ON_FALSE_TESTS)
    assert len(high) <= 3


def per_tactic(tests: list[PantherTest], hits: dict) -> list[tuple[str, int, int, int, int]]:
    """(tactic, true-positive tests, flagged, false-expected tests, flagged high) by tactic
    of the Panther rule (a test counts under each tactic its rule names)."""
    names = {tid: name for tid, name in TACTICS.values()}
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for t in tests:
        high = any(s >= Severity.HIGH for _, s in hits.get(t.event_id, ()))
        for tactic in t.tactics or ("(none)",):
            row = rows[names.get(tactic, tactic)]
            if t.expected:
                row[0] += 1
                row[1] += bool(hits.get(t.event_id))
            else:
                row[2] += 1
                row[3] += high
    return [(k, *v) for k, v in sorted(rows.items())]  # type: ignore[misc]


def test_recall_per_tactic_is_reported(flagged, capsys: pytest.CaptureFixture[str]) -> None:
    tests, hits = flagged
    rows = per_tactic(tests, hits)
    assert sum(r[1] for r in rows) >= 217  # every true positive is under some tactic
    positives = [t for t in tests if t.expected]
    serious = [t for t in positives if t.severity in _MEDIUM_UP and t.threshold <= 1]
    negatives = [t for t in tests if not t.expected]

    def flagged_count(part: list[PantherTest]) -> int:
        return sum(bool(hits.get(t.event_id)) for t in part)

    high_count = sum(
        any(s >= Severity.HIGH for _, s in hits.get(t.event_id, ())) for t in negatives
    )
    lines = [
        ("true-positive tests flagged", flagged_count(positives), len(positives)),
        ("... of Medium+ rules with no threshold", flagged_count(serious), len(serious)),
        ("false-expected tests given a high finding", high_count, len(negatives)),
    ]
    for severity in ("Critical", "High"):
        rules, covered = _covered(tests, hits, severity)
        lines.append((f"Panther {severity} rules covered", len(covered), len(rules)))
    with capsys.disabled():
        print()
        for label, got, whole in lines:
            print(f"{label}: {got} of {whole} ({_share(got, whole):.0%})")
        print("\n| tactic (Panther's) | true-positive tests | flagged | false-expected | high |")
        print("|---|---|---|---|---|")
        for name, tp, got, fp, high in rows:
            print(f"| {name} | {tp} | {got} ({_share(got, tp):.0%}) | {fp} | {high} |")
