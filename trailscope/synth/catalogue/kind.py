"""What a kind of API call is: its shape, its volume, who makes it, how its variants are pooled.

The generator keeps a small pool of ready-made "variants" of each call per account and region and
draws events from them; :class:`Pooling` says how large that pool is and how the call's request
ID looks. Values that must differ per event although the rest of a variant is shared (an STS
credential's expiry) are :class:`Slot` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from trailscope.synth.clock import long_time
from trailscope.synth.principals import PoolName

if TYPE_CHECKING:
    from trailscope.synth.catalogue.call import CallContext

#: Builds the fields of one variant of a call. Besides event fields it may return ``_host``
#: (the TLS host header) and ``_target`` (the resource an AccessDenied message names).
Builder = Callable[["CallContext"], dict[str, Any]]
#: Which pools of principals make a call, with their shares.
Callers = tuple[tuple[PoolName, float], ...]

#: A placeholder a variant is serialised with where a slot's per-event value goes.
SENTINEL = "@@x@@"


class RequestId(IntEnum):
    """How a call's requestID looks."""

    NONE = 0  # service events have none
    UUID = 1
    S3 = 2  # sixteen upper-case hex digits
    FROM_CALL = 3  # set by the builder (EC2 echoes it in its response)


class Scope(StrEnum):
    """Where a call can happen."""

    ANY = "any"
    GLOBAL = "global"  # the global region only (IAM)
    MANAGEMENT = "management"  # the global region of the management account
    HAMMER = "hammer"  # the account and region of the misconfigured box


@dataclass(frozen=True)
class Pooling:
    """How many variants of a call are kept per account and region, and its request IDs."""

    variants: int = 16  # 0: every event is built afresh (writes with unique content)
    request_id: RequestId = RequestId.UUID


POOLED = Pooling()
HOT = Pooling(variants=32)  # the busiest calls: more variants so they do not look repetitive
UNPOOLED = Pooling(variants=0)
FRESH_EC2 = Pooling(variants=0, request_id=RequestId.FROM_CALL)
S3_POOLED = Pooling(request_id=RequestId.S3)
S3_HOT = Pooling(variants=32, request_id=RequestId.S3)
S3_FRESH = Pooling(variants=0, request_id=RequestId.S3)
SERVICE_EVENT = Pooling(request_id=RequestId.NONE)
STUCK = Pooling(variants=4)  # the same denied call over and over


class ErrorCase(NamedTuple):
    """An error a call can fail with; ``message`` may name {arn}, {action}, {target}, {name}."""

    code: str | None
    message: str
    names_caller: bool  # the message names the caller's ARN, so services never get it


class Slot:
    """A nested value that must differ per event although the rest of a variant is shared.

    ``hole`` puts a sentinel into a variant before it is serialised into a template, ``fill``
    supplies the serialised value for one event, ``patch`` does the same on a plain dict
    (scripted events are dicts, not templates).
    """

    def hole(self, event: dict[str, Any]) -> bool:
        raise NotImplementedError

    def fill(self, values: dict[bytes, bytes], time: int) -> None:
        raise NotImplementedError

    def patch(self, event: dict[str, Any], time: int) -> None:
        raise NotImplementedError


class CredentialsSlot(Slot):
    """STS credentials expire an hour after the call, whichever pooled variant was used."""

    def hole(self, event: dict[str, Any]) -> bool:
        response = event["responseElements"]
        if not response:
            return False
        event["responseElements"] = {
            **response,
            "credentials": {**response["credentials"], "expiration": SENTINEL},
        }
        return True

    def fill(self, values: dict[bytes, bytes], time: int) -> None:
        values[b"x"] = f'"{long_time(time + 3600)}"'.encode()

    def patch(self, event: dict[str, Any], time: int) -> None:
        response = event["responseElements"]
        if response:
            credentials = {**response["credentials"], "expiration": long_time(time + 3600)}
            event["responseElements"] = {**response, "credentials": credentials}


class LogStreamSlot(Slot):
    """Lambda names log streams after the day and a fresh container ID; pooled variants get
    both per event (the eventID supplies the unique part)."""

    def hole(self, event: dict[str, Any]) -> bool:
        event["requestParameters"] = {**event["requestParameters"], "logStreamName": SENTINEL}
        return True

    def fill(self, values: dict[bytes, bytes], time: int) -> None:
        day = values[b"t"][1:11].replace(b"-", b"/")
        values[b"x"] = b'"%b/[$LATEST]%b"' % (day, values[b"e"][1:-1].replace(b"-", b""))

    def patch(self, event: dict[str, Any], time: int) -> None:
        day = event["eventTime"][:10].replace("-", "/")
        name = f"{day}/[$LATEST]{event['eventID'].replace('-', '')}"
        event["requestParameters"] = {**event["requestParameters"], "logStreamName": name}


CREDENTIALS = CredentialsSlot()
LOG_STREAM = LogStreamSlot()


@dataclass(frozen=True)
class Kind:
    """One API call shape: how it looks, how often it happens, who makes it."""

    source: str
    name: str
    weight: float  # relative volume in the generic mix (0: used only by scripted stories)
    build: Builder
    callers: Callers
    read_only: bool
    error_rate: float = 0.065
    data: bool = False  # a data event (S3 objects, Lambda invocations)
    scope: Scope = Scope.ANY
    pooling: Pooling = POOLED
    event_type: str = "AwsApiCall"
    slot: Slot | None = None
    errors: tuple[ErrorCase, ...] = ()  # () takes the service's usual errors


def no_parameters(call: CallContext) -> dict[str, Any]:
    """A call logged without request parameters or response elements."""
    return {"requestParameters": None, "responseElements": None}


def scripted(source: str, name: str, read_only: bool, build: Builder = no_parameters) -> Kind:
    """A call used only by a scripted story (it has no weight in the generic mix)."""
    return Kind(source, name, 0, build, (), read_only)
