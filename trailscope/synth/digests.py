"""Digest files: hourly, per account and region, chained and optionally signed.

Each digest lists the log files delivered during its hour with the SHA-256 of their content,
names the previous digest with its hash and signature, and is signed over the string CloudTrail
signs (shared with the verifier in :mod:`trailscope.integrity.digest`, so what is written here is
what is checked there).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from trailscope.integrity.digest import HASH_ALGORITHM, SIGNATURE_ALGORITHM, string_to_sign
from trailscope.synth.clock import iso
from trailscope.synth.keys import SAMPLE_BUCKET, digest_key
from trailscope.synth.world import World

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


@dataclass
class LogReference:
    """What a digest says about one delivered log file."""

    delivery: int
    key: str
    sha256: str  # of the uncompressed content
    oldest: int  # oldest event time in the file
    newest: int


@dataclass
class DigestFile:
    """One written digest: its key, its JSON, and its signature ("" when unsigned)."""

    key: str
    content: bytes
    end: int
    signature: str


class Signer:
    """Signs digests with an RSA key as CloudTrail does (SHA256withRSA, PKCS#1 v1.5, which is
    deterministic, so a seed still gives the same bytes)."""

    def __init__(self, key: RSAPrivateKey) -> None:
        from trailscope.integrity.signing import fingerprint

        self.key = key
        self.fingerprint = fingerprint(key.public_key())

    def sign(self, message: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()

    def public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class DigestChain:
    """The digests of one account and region, an hour apart, each naming the one before.

    Log files are added as they are delivered; :meth:`close` writes the digest of the current
    period (covering what was added) and starts the next hour.
    """

    def __init__(
        self,
        world: World,
        account_index: int,
        region_index: int,
        *,
        start: int,
        first_end: int,
        signer: Signer | None,
    ) -> None:
        self.world = world
        self.account_index = account_index
        self.region_index = region_index
        self.start = start
        self.end = first_end
        self.signer = signer
        self.logs: list[LogReference] = []
        self.previous: DigestFile | None = None
        self.previous_hash = ""

    def add(self, log: LogReference) -> None:
        """A log file delivered before :attr:`end`."""
        self.logs.append(log)

    def close(self) -> DigestFile:
        """The digest of the current period; the chain moves on by an hour."""
        key = digest_key(self.world, self.account_index, self.region_index, self.end)
        previous, logs = self.previous, self.logs
        document: dict[str, Any] = {
            "awsAccountId": self.world.accounts[self.account_index].id,
            "digestStartTime": iso(self.start),
            "digestEndTime": iso(self.end),
            "digestS3Bucket": SAMPLE_BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.signer.fingerprint if self.signer else "",
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": iso(max(log.newest for log in logs)) if logs else None,
            "oldestEventTime": iso(min(log.oldest for log in logs)) if logs else None,
            "previousDigestS3Bucket": SAMPLE_BUCKET if previous else None,
            "previousDigestS3Object": previous.key if previous else None,
            "previousDigestHashValue": self.previous_hash if previous else None,
            "previousDigestHashAlgorithm": HASH_ALGORITHM if previous else None,
            "previousDigestSignature": previous.signature if previous else None,
            "logFiles": [
                {
                    "s3Bucket": SAMPLE_BUCKET,
                    "s3Object": log.key,
                    "hashValue": log.sha256,
                    "hashAlgorithm": HASH_ALGORITHM,
                    "newestEventTime": iso(log.newest),
                    "oldestEventTime": iso(log.oldest),
                }
                for log in logs
            ],
        }
        content = orjson.dumps(document)
        content_hash = hashlib.sha256(content).hexdigest()
        signature = ""
        if self.signer is not None:
            message = string_to_sign(
                document["digestEndTime"],
                SAMPLE_BUCKET,
                key,
                content_hash,
                previous.signature if previous else None,
            )
            signature = self.signer.sign(message)
        digest = DigestFile(key, content, self.end, signature)
        self.previous, self.previous_hash = digest, content_hash
        self.logs = []
        self.start, self.end = self.end, self.end + 3600
        return digest
