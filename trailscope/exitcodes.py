"""The process exit codes of every ``trailscope`` command, in one table.

Scripts and CI jobs branch on these, so each outcome has its own code and a code never changes
meaning. The codes that existed before the table (0-4) keep their values; a usage error takes
``EX_USAGE`` from BSD's ``sysexits.h`` rather than click's default 2, which would collide with
"findings at ``--fail-on``".
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Why a command ended."""

    #: Everything asked for was done and nothing needs attention.
    OK = 0
    #: A runtime error: the message says what and, usually, what to do.
    ERROR = 1
    #: ``detect --fail-on``: at least one finding at or above that severity.
    FINDINGS = 2
    #: ``ingest``/``watch``: the run finished but quarantined some objects or events.
    QUARANTINED = 3
    #: ``verify``: a digest, signature, chain or log file is wrong or missing.
    VERIFY_PROBLEMS = 4
    #: ``lake check``: a part, commit or checkpoint is missing, altered or unreferenced.
    LAKE_PROBLEMS = 5
    #: ``verify``: nothing could be authenticated (no signatures, no public key).
    UNAUTHENTICATED = 6
    #: ``doctor``: a check of the trail's setup failed or could not be made.
    DOCTOR_PROBLEMS = 7
    #: A command line that cannot be run as typed: unknown option, bad value, conflicts.
    USAGE = 64
    #: Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    INTERRUPTED = 130


#: One line per code, for ``--help`` epilogues and docs.
DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "error (the message says what to do)",
    ExitCode.FINDINGS: "detections found at or above --fail-on",
    ExitCode.QUARANTINED: "ingest finished with something quarantined",
    ExitCode.VERIFY_PROBLEMS: "verify found a problem",
    ExitCode.LAKE_PROBLEMS: "lake check found a problem",
    ExitCode.UNAUTHENTICATED: "verify could not authenticate anything",
    ExitCode.DOCTOR_PROBLEMS: "doctor found a setup problem (or could not check one)",
    ExitCode.USAGE: "usage error (unknown option, bad value, conflicting flags)",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C",
}
