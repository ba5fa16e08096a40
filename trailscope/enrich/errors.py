"""The one error enrichment raises on purpose: a file it was given cannot be used."""

from __future__ import annotations

from trailscope.errors import TrailscopeError


class EnrichError(TrailscopeError):
    """A database, ranges file or account list is missing, damaged or malformed; the message
    names the file (and the line, for account lists)."""
