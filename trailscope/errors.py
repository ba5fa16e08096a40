"""Errors a user can act on.

Every error trailscope raises on purpose derives from :class:`TrailscopeError` and carries the
context a person needs to fix the problem (which file or key, and a hint), so the CLI can print
one clear line instead of a traceback.
"""

from __future__ import annotations


class TrailscopeError(Exception):
    """Root of every error raised on purpose by trailscope."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class SourceError(TrailscopeError):
    """A source location cannot be listed or understood (bad URI, missing folder, no access)."""


class SourceReadError(TrailscopeError):
    """One object could not be read (vanished, denied, I/O error); the run goes on without it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class DecodeError(TrailscopeError):
    """One object's bytes are not CloudTrail (bad gzip, bad JSON, wrong shape)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class LakeError(TrailscopeError):
    """The lake is missing, unreadable or in an unexpected state."""


class LakeLockedError(LakeError):
    """Another process is writing to the lake."""


class QueryInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a running query. The engine (and the ``Lake``) stays usable for the next
    one; a ``KeyboardInterrupt``, so code that stops on Ctrl-C still does."""

    message = "the query was stopped; the lake is unchanged"
