"""Identifiers: random ones drawn from a seeded stream, and stable ones derived by hashing.

Random identifiers (event IDs, request IDs) come from the caller's ``random.Random`` so a seed
gives the same trail. Identifiers that must not depend on the order things are built in (a role's
``AROA...`` ID, the access key of an hour's session) are derived by hashing what they belong to.
"""

from __future__ import annotations

import hashlib
import random
import string

#: Alphabet of AWS unique IDs (AKIA..., AROA...).
BASE32 = string.ascii_uppercase + "234567"
ALPHANUMERIC = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
DIGITS = "0123456789"

_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in HEX}
_TRANSLATE: dict[str, bytes] = {}  # byte -> alphabet character tables for StableIds.text


def uuid4_text(bits: int) -> str:
    """Format 128 random bits as a version-4 UUID string (CloudTrail eventIDs look like this)."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[bits & 3]}{h[17:20]}-{h[20:32]}"


def uuids_json(rng: random.Random, count: int) -> list[bytes]:
    """``count`` version-4 UUIDs as JSON strings, from one draw of random bytes (cheaper per ID)."""
    hx = rng.randbytes(16 * count).hex()
    v = _VARIANT
    return [
        f'"{hx[i : i + 8]}-{hx[i + 8 : i + 12]}-4{hx[i + 13 : i + 16]}-{v[hx[i + 16]]}'
        f'{hx[i + 17 : i + 20]}-{hx[i + 20 : i + 32]}"'.encode()
        for i in range(0, 32 * count, 32)
    ]


def random_text(rng: random.Random, alphabet: str, length: int) -> str:
    """``length`` characters drawn from ``alphabet``."""
    return "".join(rng.choices(alphabet, k=length))


class StableIds:
    """Pseudo-random strings that depend only on the seed and what they name."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def text(self, alphabet: str, length: int, *parts: object) -> str:
        """A stable string of ``length`` characters of ``alphabet``, derived from ``parts``."""
        table = _TRANSLATE.get(alphabet)
        if table is None:
            table = _TRANSLATE[alphabet] = bytes(
                ord(alphabet[b % len(alphabet)]) for b in range(256)
            )
        out = ""
        counter = 0
        while len(out) < length:
            key = "\x1f".join(map(str, (self.seed, counter, *parts))).encode()
            out += hashlib.blake2b(key, digest_size=64).digest().translate(table).decode()
            counter += 1
        return out[:length]

    def unique_id(self, prefix: str, *parts: object) -> str:
        """An AWS unique ID (``AROA`` + 17 characters) for the principal named by ``parts``."""
        return prefix + self.text(BASE32, 17, prefix, *parts)
