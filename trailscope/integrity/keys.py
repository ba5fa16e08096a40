"""Where the public keys that check digest signatures come from.

Online, CloudTrail's ``ListPublicKeys`` returns each region's keys valid in a time range, and a
digest names the one that signed it by ``digestPublicKeyFingerprint``. Offline, the user gives
PEM files; then every given key is tried, so a rotated key set works without fingerprints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from trailscope.errors import TrailscopeError
from trailscope.integrity.signing import load_public_key

_OFFLINE_HINT = "to check signatures offline, pass the region's key with --public-key FILE.pem"


class KeySource(Protocol):
    """Candidate keys for the digests of one region over a time range."""

    #: how reports name where the keys came from
    description: str

    def load(self, region: str, start: dt.datetime, end: dt.datetime) -> None:
        """Fetch what ``candidates`` will need for ``region`` (called once per region)."""
        ...

    def candidates(self, region: str, fingerprint: str) -> Sequence[RSAPublicKey]:
        """Keys that may have signed a digest of ``region`` with ``fingerprint``; empty: none."""
        ...


class StaticKeys:
    """Keys given by the user (``--public-key``): tried for every digest, whatever its region."""

    def __init__(self, keys: Iterable[RSAPublicKey], description: str = "--public-key") -> None:
        self.keys = list(keys)
        self.description = description

    def load(self, region: str, start: dt.datetime, end: dt.datetime) -> None:
        return None

    def candidates(self, region: str, fingerprint: str) -> Sequence[RSAPublicKey]:
        return self.keys


class CloudTrailKeys:
    """Keys from CloudTrail's ``ListPublicKeys`` in each digest's region.

    ``client_factory(region)`` returns a boto3 CloudTrail client; tests hand in stubbed clients.
    """

    description = "CloudTrail ListPublicKeys"

    def __init__(self, client_factory: Any) -> None:
        self._client_factory = client_factory
        self._by_region: dict[str, dict[str, RSAPublicKey]] = {}

    @classmethod
    def from_profile(cls, profile: str | None = None) -> CloudTrailKeys:
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session(profile_name=profile)
        except BotoCoreError as exc:
            raise TrailscopeError(f"cannot use AWS profile {profile}: {exc}") from None
        return cls(lambda region: session.client("cloudtrail", region_name=region))

    def load(self, region: str, start: dt.datetime, end: dt.datetime) -> None:
        if region in self._by_region:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client_factory(region)
        keys: dict[str, RSAPublicKey] = {}
        request: dict[str, Any] = {"StartTime": start, "EndTime": end}
        try:
            while True:
                page = client.list_public_keys(**request)
                for item in page.get("PublicKeyList", ()):
                    value = item["Value"]
                    name = f"CloudTrail public key {item.get('Fingerprint', '?')} ({region})"
                    keys[item["Fingerprint"]] = load_public_key(value, name=name)
                token = page.get("NextToken")
                if not token:
                    break
                request = {**request, "NextToken": token}
        except (BotoCoreError, ClientError) as exc:
            raise TrailscopeError(
                f"cannot fetch CloudTrail public keys for {region}: {exc}", hint=_OFFLINE_HINT
            ) from None
        self._by_region[region] = keys

    def candidates(self, region: str, fingerprint: str) -> Sequence[RSAPublicKey]:
        key = self._by_region.get(region, {}).get(fingerprint)
        return [key] if key is not None else []
