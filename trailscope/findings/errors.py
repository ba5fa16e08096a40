"""Errors of the findings store a user can act on."""

from __future__ import annotations

from trailscope.errors import TrailscopeError


class FindingsError(TrailscopeError):
    """An unknown finding or suppression id, a bad duration or network, a bad status."""
