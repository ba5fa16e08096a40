"""Bytes -> normalized Arrow rows. No I/O here: callers bring the bytes."""

from trailscope.decode.normalize import DecodeResult, decode_object

__all__ = ["DecodeResult", "decode_object"]
