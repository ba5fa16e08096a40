"""CloudTrail log-file integrity validation: digests, hash chains, signatures, and a record of
which files were validated, kept beside the lake so queries can rely on it."""

from trailscope.integrity.keys import CloudTrailKeys, KeySource, StaticKeys
from trailscope.integrity.record import (
    VALIDATION_TABLE,
    record_validation,
    validated_files,
    validation_path,
)
from trailscope.integrity.report import (
    ChainBreak,
    ChainEnd,
    DigestResult,
    FileResult,
    FileStatus,
    Outcome,
    ProblemKind,
    SignatureStatus,
    VerifyReport,
)
from trailscope.integrity.verify import verify_trail

__all__ = [
    "VALIDATION_TABLE",
    "ChainBreak",
    "ChainEnd",
    "CloudTrailKeys",
    "DigestResult",
    "FileResult",
    "FileStatus",
    "KeySource",
    "Outcome",
    "ProblemKind",
    "SignatureStatus",
    "StaticKeys",
    "VerifyReport",
    "record_validation",
    "validated_files",
    "validation_path",
    "verify_trail",
]
