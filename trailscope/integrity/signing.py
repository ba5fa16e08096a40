"""RSA signature checks and public-key loading: SHA256withRSA, PKCS#1 v1.5, as CloudTrail signs.

CloudTrail hands out public keys as DER ``RSAPublicKey`` (PKCS#1) bytes; people save them as PEM
in either PKCS#1 or SubjectPublicKeyInfo form. All of these load here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from trailscope.errors import TrailscopeError


def load_public_key(data: bytes, *, name: str = "public key") -> RSAPublicKey:
    """An RSA public key from PEM, DER, or base64 DER (what the CLI prints for ListPublicKeys)."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            try:
                key = serialization.load_der_public_key(data)
            except ValueError:
                key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise TrailscopeError(
            f"{name} is not a readable public key",
            hint="give a PEM file (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----)",
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise TrailscopeError(f"{name} is not an RSA public key (CloudTrail signs with RSA)")
    return key


def read_public_key(path: Path | str) -> RSAPublicKey:
    """A public key from a file, with the file named in any error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrailscopeError(f"cannot read public key {path}: {exc.strerror or exc}") from None
    return load_public_key(data, name=str(path))


def fingerprint(key: RSAPublicKey) -> str:
    """Hex MD5 of the PKCS#1 DER key, the form of a digest's ``digestPublicKeyFingerprint``."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


def signature_valid(key: RSAPublicKey, signature_hex: str, message: bytes) -> bool:
    """Whether ``signature_hex`` (hex, as kept in S3 metadata) signs ``message`` under ``key``."""
    try:
        signature = bytes.fromhex(signature_hex.strip())
    except ValueError:
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
