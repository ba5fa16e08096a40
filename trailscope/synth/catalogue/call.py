"""What a call builder may look at when it builds one variant of a call."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from trailscope.synth.clock import long_time
from trailscope.synth.ids import ALPHANUMERIC, BASE32, HEX, random_text, uuid4_text
from trailscope.synth.principals import Principal
from trailscope.synth.world import Account, Resources, World

T = TypeVar("T")


class CallContext:
    """Who calls, where and when, with the random stream the variant is drawn from."""

    __slots__ = (
        "account",
        "in_global_region",
        "principal",
        "region",
        "resources",
        "rng",
        "time",
        "world",
    )

    def __init__(
        self,
        world: World,
        account: Account,
        resources: Resources,
        principal: Principal,
        region: str,
        rng: random.Random,
        time: int,
    ) -> None:
        self.world = world
        self.account = account
        self.resources = resources
        self.principal = principal
        self.region = region
        self.rng = rng
        self.time = time
        self.in_global_region = region == world.global_region

    def pick(self, choices: Sequence[T]) -> T:
        """One of ``choices``, uniformly (one draw of the stream)."""
        return choices[int(self.rng.random() * len(choices))]

    def hex(self, length: int) -> str:
        return random_text(self.rng, HEX, length)

    def text(self, alphabet: str, length: int) -> str:
        return random_text(self.rng, alphabet, length)

    def uuid(self) -> str:
        return uuid4_text(self.rng.getrandbits(128))

    def s3_host(self, bucket: str) -> str:
        return f"{bucket}.s3.{self.region}.amazonaws.com"

    def s3_details(self, bytes_in: int, bytes_out: int) -> dict[str, Any]:
        """S3's additionalEventData: signature, TLS, bytes transferred, request host ID."""
        return {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": bytes_in,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": random_text(self.rng, ALPHANUMERIC + "+/", 76) + "=",
            "bytesTransferredOut": bytes_out,
        }

    def credentials(self) -> dict[str, Any]:
        """STS credentials as logged; ``expiration`` is set per event by the credentials slot."""
        return {
            "accessKeyId": "ASIA" + random_text(self.rng, BASE32, 16),
            "sessionToken": "IQoJb3JpZ2luX2Vj" + random_text(self.rng, ALPHANUMERIC + "+/", 180),
            "expiration": long_time(self.time + 3600),
        }
