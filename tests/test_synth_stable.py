"""The generator's output is pinned: same arguments and seed, same trail, release after release.

Tests and benchmarks elsewhere rely on exact counts and event IDs of synthetic trails, so a change
to the generator that moves a single byte must be deliberate. Each case below is generated and
fingerprinted (a SHA-256 per kind of file over every key and the SHA-256 of its *uncompressed*
content, plus the order files were written in and the report's counts) and compared with
``fixtures/synth_fingerprints.json``. Uncompressed content is hashed so a new zlib-ng release,
which may compress differently, does not count as a change of the trail.

To accept a deliberate change, regenerate the fixture and review its diff::

    python tests/test_synth_stable.py --write
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from trailscope.synth import SynthReport, synth_trail

FIXTURE = Path(__file__).parent / "fixtures" / "synth_fingerprints.json"


def _probable_prime(rng: random.Random, bits: int) -> int:
    """A prime drawn from ``rng`` (Miller-Rabin, 40 rounds): a signing key that is the same
    on every run, without storing a private key in the repository."""
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if any(n % p == 0 for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            continue
        d, s = n - 1, 0
        while d % 2 == 0:
            d, s = d // 2, s + 1
        for _ in range(40):
            x = pow(rng.randrange(2, n - 1), d, n)
            if x in (1, n - 1):
                continue
            for _ in range(s - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                break
        else:
            return n


def fixed_signing_key(seed: int = 1, bits: int = 1024) -> rsa.RSAPrivateKey:
    """A deterministic RSA key for reproducible signed digests (tests only)."""
    rng = random.Random(f"trailscope-test-key:{seed}")
    e = 65537
    while True:
        p, q = _probable_prime(rng, bits // 2), _probable_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


#: name -> keyword arguments of synth_trail; small trails that together use every option.
CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "defaults": lambda: {"events": 3000, "seed": 7, "days": 2},
    "organization-one-region": lambda: {
        "events": 2000,
        "seed": 11,
        "accounts": 2,
        "regions": ("eu-west-1",),
        "days": 3,
        "org_id": "o-abc123defg",
        "redeliver_fraction": 0.02,
        "events_per_file": 64,
    },
    "plain-many-accounts": lambda: {
        "events": 1500,
        "seed": 3,
        "accounts": 5,
        "regions": ("us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"),
        "days": 4,
        "end": dt.date(2023, 12, 31),
        "digests": False,
        "insights": False,
        "incidents": False,
        "redeliver_fraction": 0.0,
    },
    "tiny": lambda: {"events": 40, "seed": 1, "days": 1},
    "no-us-east-1": lambda: {
        "events": 1200,
        "seed": 9,
        "regions": ("eu-central-1", "eu-west-1"),
        "days": 2,
        "compresslevel": 6,
    },
    "signed": lambda: {
        "events": 800,
        "seed": 5,
        "accounts": 2,
        "days": 1,
        "signing_key": fixed_signing_key(),
    },
}


def _category(key: str) -> str:
    if key.startswith("_synth/"):
        return "sidecar"
    for folder in ("CloudTrail-Digest", "CloudTrail-Insight"):
        if f"/{folder}/" in key:
            return folder.split("-")[1].lower()
    return "log" if key.endswith(".json.gz") else "other"


def fingerprint(report: SynthReport) -> dict[str, Any]:
    """What a trail is, in a few hashes; equal fingerprints mean equal trails."""
    lines: dict[str, list[str]] = {}
    for path in sorted(report.files):
        key = path.as_posix()
        raw = (report.root / path).read_bytes()
        content = gzip.decompress(raw) if key.endswith(".gz") else raw
        lines.setdefault(_category(key), []).append(
            f"{key}\t{hashlib.sha256(content).hexdigest()}\n"
        )
    files = {
        name: {
            "count": len(entries),
            "sha256": hashlib.sha256("".join(entries).encode()).hexdigest(),
        }
        for name, entries in sorted(lines.items())
    }
    order = "\n".join(p.as_posix() for p in report.files)
    summary = {k: v for k, v in vars(report).items() if k not in ("root", "files", "incidents")}
    summary["incidents"] = [[i.name, i.description, i.event_ids] for i in report.incidents]
    return {
        "files": files,
        "write_order_sha256": hashlib.sha256(order.encode()).hexdigest(),
        "report": json.loads(json.dumps(summary, default=str)),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_trail_is_unchanged(tmp_path: Path, case: str) -> None:
    expected = json.loads(FIXTURE.read_text())[case]
    report = synth_trail(tmp_path, **CASES[case]())
    assert fingerprint(report) == expected


def _write_fixture() -> None:
    import tempfile

    out: dict[str, Any] = {}
    for case in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            out[case] = fingerprint(synth_trail(Path(tmp), **CASES[case]()))
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    _write_fixture()
