"""What a doctor run finds: one verdict per check, with the fix when it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """A check's verdict. Only PASS and INFO leave the exit code at 0."""

    PASS = "pass"
    FAIL = "fail"
    #: An AWS call the check needs was refused or failed (the detail names it).
    UNCHECKED = "cannot check"
    #: Not asked for (``--require-kms``, ``--require-cloudwatch``): the state is shown only.
    INFO = "info"


@dataclass(frozen=True)
class Check:
    """One verdict.

    :param id: stable name for scripts (``multi-region``, ``bucket-policy-delivery``, ...).
    :param title: what is checked, in a few words.
    :param detail: what was found (for UNCHECKED: which call failed, with its error code).
    :param fix: the console step or AWS CLI command that fixes it ('' when nothing to fix).
    :param trail: the trail's ARN, or None for an account-wide check.
    :param reference: the CIS AWS Foundations Benchmark control or guide it comes from.
    """

    id: str
    title: str
    status: Status
    detail: str
    fix: str = ""
    trail: str | None = None
    reference: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trail": self.trail,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix or None,
            "reference": self.reference or None,
        }


@dataclass
class DoctorReport:
    """Every check of one run, account-wide ones first, then trail by trail."""

    account: str | None
    region: str
    checks: list[Check] = field(default_factory=list)
    trails: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing went unchecked."""
        return all(c.status in (Status.PASS, Status.INFO) for c in self.checks)

    def counts(self) -> dict[str, int]:
        result = {s.value: 0 for s in Status}
        for c in self.checks:
            result[c.status.value] += 1
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "account": self.account,
            "region": self.region,
            "trails": self.trails,
            "counts": self.counts(),
            "checks": [c.to_json() for c in self.checks],
        }
