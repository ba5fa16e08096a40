"""Detections: rules that flag known-bad activity in the lake, built in or written in Sigma.

    from trailscope.detect import run_detections
    report = run_detections("lake", since="7d", rule_dirs=["my-sigma-rules/"])
    for f in report.findings: print(f.severity.label, f.title, f.principal, f.event_ids)
    for path, reason in report.unsupported: print("not run:", path, reason)

Every rule is Athena SQL over the ``cloudtrail`` table, so it runs wherever queries run
(DuckDB here, Athena or Spark through the same translation).
"""

from trailscope.detect.loader import BUILTIN_DIR, RuleSet, load_rules
from trailscope.detect.model import (
    DetectError,
    DetectionReport,
    Finding,
    Rule,
    RuleParam,
    Severity,
)
from trailscope.detect.runner import run_detections

__all__ = [
    "BUILTIN_DIR",
    "DetectError",
    "DetectionReport",
    "Finding",
    "Rule",
    "RuleParam",
    "RuleSet",
    "Severity",
    "load_rules",
    "run_detections",
]
