"""Bytes -> normalized Arrow rows. No I/O here: callers bring the bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trailscope.decode.normalize import DecodeResult, decode_object

__all__ = ["DecodeResult", "decode_object"]


def __getattr__(name: str) -> object:
    """The decoder on first use: the committing process of a run needs only the schema."""
    if name in __all__:
        from trailscope.decode import normalize

        return getattr(normalize, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
