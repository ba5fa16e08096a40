"""``verify`` throughput against a baseline measured in the same run.

    python benchmarks/verify_bench.py                    # 300,000 events, 7 days, signed
    python benchmarks/verify_bench.py --events 100000 --workers 4

On one signed synthetic trail (generated once and cached under benchmarks/out/), prints:
  * baseline: plain SHA-256 of every log file's stored bytes, one thread (the least any
    integrity check must do: read each byte once and hash it)
  * baseline: gunzip + SHA-256 of every log file, one thread (what CloudTrail's hash of the
    uncompressed content costs by itself)
  * for scale: the layout walk that lists the trail (part of every verify run)
  * trailscope verify, signatures checked (RSA per digest) and the chain walked, in threads
  * trailscope verify of the same copy without signatures (hashes and chain only)
as files/s and MB/s of stored bytes, with ratios to the first baseline.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def trail(events: int, days: int) -> Path:
    """The cached signed trail, generated on first use."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from trailscope.synth import SIGNATURES_FILE, synth_trail

    root = OUT / f"verify-trail-{events}-{days}"
    if (root / SIGNATURES_FILE).exists():
        return root
    print(f"generating a signed trail of {events:,} events over {days} days in {root} ...")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    started = time.perf_counter()
    synth_trail(root, events=events, days=days, signing_key=key, overwrite=True)
    print(f"  done in {time.perf_counter() - started:.1f} s")
    return root


def log_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "AWSLogs").rglob("*.json.gz") if "/CloudTrail/" in str(p))


def baseline_sha256(paths: list[Path]) -> float:
    started = time.perf_counter()
    for p in paths:
        hashlib.sha256(p.read_bytes()).hexdigest()
    return time.perf_counter() - started


def baseline_gunzip_sha256(paths: list[Path]) -> float:
    started = time.perf_counter()
    for p in paths:
        hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
    return time.perf_counter() - started


def listing(root: Path) -> float:
    from trailscope.sources import open_source

    started = time.perf_counter()
    sum(1 for _ in open_source(str(root)).iter_objects())
    return time.perf_counter() - started


def run_verify(root: Path, signed: bool, workers: int | None) -> tuple[float, object]:
    from trailscope.integrity import StaticKeys, verify_trail
    from trailscope.integrity.signing import read_public_key
    from trailscope.synth import PUBLIC_KEY_FILE, SIGNATURES_FILE

    kwargs: dict[str, object] = {}
    if signed:
        sigs = json.loads((root / SIGNATURES_FILE).read_text())
        kwargs["signatures"] = {
            k: {"signature": v, "signature-algorithm": "SHA256withRSA"} for k, v in sigs.items()
        }
        kwargs["keys"] = StaticKeys([read_public_key(root / PUBLIC_KEY_FILE)])
    started = time.perf_counter()
    report = verify_trail(str(root), workers=workers, **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - started, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--workers", type=int, default=None, help="verify threads (default: auto)")
    args = ap.parse_args()

    root = trail(args.events, args.days)
    paths = log_files(root)
    n = len(paths)
    mb = sum(p.stat().st_size for p in paths) / 1e6
    digests = sum(1 for _ in (root / "AWSLogs").rglob("*CloudTrail-Digest_*.json.gz"))
    print(
        f"trail: {n:,} log files ({mb:,.1f} MB stored), {digests:,} digests, {os.cpu_count()} CPUs"
    )

    for p in paths:  # warm the page cache so every contender reads from memory
        p.read_bytes()
    rows = []
    base = baseline_sha256(paths)
    rows.append(("baseline: sha256 of stored bytes, 1 thread", base))
    rows.append(("baseline: gunzip + sha256, 1 thread", baseline_gunzip_sha256(paths)))
    rows.append(("for scale: listing the trail (layout walk), no hashing", listing(root)))
    t_signed, report = run_verify(root, signed=True, workers=args.workers)
    summary = report.summary()  # type: ignore[attr-defined]
    assert summary["ok"] and summary["validated"] == n, summary
    assert summary["signatures"]["valid"] == digests, summary
    rows.append(("trailscope verify, signatures + chain + hashes", t_signed))
    t_plain, report = run_verify(root, signed=False, workers=args.workers)
    assert report.summary()["unsigned"] == n  # type: ignore[attr-defined]
    rows.append(("trailscope verify, no signatures (hashes + chain)", t_plain))

    print(f"\n{'':56} {'seconds':>8} {'files/s':>10} {'MB/s':>8} {'vs sha256':>10}")
    for name, seconds in rows:
        print(
            f"{name:56} {seconds:8.2f} {n / seconds:10,.0f} {mb / seconds:8,.1f} "
            f"{base / seconds:9.2f}x"
        )
    print(f"\ndigests checked per second (signed run): {digests / t_signed:,.0f}")


if __name__ == "__main__":
    main()
