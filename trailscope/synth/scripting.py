"""Scripted events: whole events written one at a time for stories and incidents.

Stories draw from their own seeded stream, so adding or changing one never shifts the everyday
mix, and events come out as plain dicts (they are few) rather than byte templates.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from trailscope.synth.catalogue import Kind
from trailscope.synth.catalogue.kind import Builder, RequestId
from trailscope.synth.clock import Span, iso
from trailscope.synth.events import EVENT_VERSIONS, EventFactory, ordered
from trailscope.synth.ids import ALPHANUMERIC, random_text, uuid4_text
from trailscope.synth.principals import Principal
from trailscope.synth.world import Account, World

T = TypeVar("T")

_LOGIN_TO = (
    "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true"
    "&state=hashArgsFromTB_us-east-1_{h}"
)
#: The user name AWS logs for a failed sign-in of a user that does not exist.
HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"


class StoryWriter:
    """Writes scripted events over the trail's span, from the story stream."""

    def __init__(
        self,
        factory: EventFactory,
        kinds: list[Kind],
        *,
        seed: int,
        span: Span,
    ) -> None:
        self.factory = factory
        self.world: World = factory.world
        self.rng = random.Random(f"trailscope-synth:{seed}:script")
        self.span = span
        self.days = span.days
        self.kinds: dict[str, Kind] = {}
        for kind in kinds:
            self.kinds.setdefault(kind.name, kind)

    def pick(self, choices: Sequence[T]) -> T:
        """Choose with the story stream (keeps the generic stream undisturbed)."""
        return choices[int(self.rng.random() * len(choices))]

    def day_start(self, day: int) -> int:
        """Midnight of the trail's ``day``-th day."""
        return self.span.day_start(day)

    def when(self, usual: int, at: int | None) -> int:
        """A story's start: ``at`` when one was chosen, else its usual time (drawn either way,
        so choosing one story's time never shifts the others)."""
        return usual if at is None else at

    def place(self, start: int) -> int:
        """A story's start moved by whole days into the trail's span (see :class:`Span`)."""
        return self.span.place(start)

    def finish(
        self,
        event: dict[str, Any],
        time: int,
        principal: Principal | None,
        request_id: RequestId = RequestId.UUID,
    ) -> dict[str, Any]:
        """Fill the per-event fields of a scripted event (same rules as the hot loop)."""
        rng = self.rng
        if principal is not None and event.get("userIdentity") is None:
            event["userIdentity"] = principal.identity(time // 3600)
        event["eventTime"] = iso(time)
        event["eventID"] = uuid4_text(rng.getrandbits(128))
        if "requestID" in event and not event["requestID"]:
            event["requestID"] = (
                uuid4_text(rng.getrandbits(128))
                if request_id != RequestId.S3
                else f"{rng.getrandbits(64):016X}"
            )
        if event.get("sharedEventID") == "":
            event["sharedEventID"] = uuid4_text(rng.getrandbits(128))
        return event

    def api(
        self,
        kind: Kind,
        account_index: int,
        region_index: int,
        time: int,
        principal: Principal,
        build: Builder | None = None,
        fail: bool = False,
    ) -> dict[str, Any]:
        """One API call event of ``kind`` (built by ``build`` instead of the kind's builder)."""
        event, shared = self.factory.compose(
            kind, account_index, region_index, time, principal, fail, self.rng, build
        )
        if shared:
            event["sharedEventID"] = ""
        event = self.finish(event, time, principal, kind.pooling.request_id)
        if kind.slot is not None:
            kind.slot.patch(event, time)
        return event

    def signin(
        self,
        account_index: int,
        time: int,
        principal: Principal,
        name: str,
        *,
        response: dict[str, Any] | None,
        details: dict[str, Any] | None,
        identity: dict[str, Any] | None = None,
        error_message: str | None = None,
        shared_event_id: str | None = None,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        """A console sign-in event (ConsoleLogin, CheckMfa, SwitchRole), logged in the
        global region, without requestID, as the sign-in service writes them.

        :param details: the event's additionalEventData.
        :param identity: the userIdentity when it is not the principal's session's.
        """
        world = self.world
        fields: dict[str, Any] = {
            "eventVersion": EVENT_VERSIONS["signin.amazonaws.com"],
            "userIdentity": identity,
            "eventTime": None,
            "eventSource": "signin.amazonaws.com",
            "eventName": name,
            "awsRegion": world.global_region,
            "sourceIPAddress": address
            or (principal.addresses[0] if principal.addresses else "192.0.2.1"),
            "userAgent": user_agent or principal.user_agents[0],
            "requestParameters": None,
            "responseElements": response,
            "eventID": None,
            "readOnly": False,
            "eventType": "AwsConsoleSignIn",
            "managementEvent": True,
            "recipientAccountId": world.accounts[account_index].id,
            "eventCategory": "Management",
            "tlsDetails": self.factory.tls("signin.aws.amazon.com", False),
        }
        if details is not None:
            fields["additionalEventData"] = details
        if error_message:
            fields["errorMessage"] = error_message
        if shared_event_id:
            fields["sharedEventID"] = shared_event_id
        return self.finish(ordered(fields), time, principal, RequestId.NONE)

    def login_to(self) -> str:
        """The console URL a sign-in lands on (its state parameter differs per sign-in)."""
        return _LOGIN_TO.format(h=random_text(self.rng, ALPHANUMERIC, 12))

    def login_identity(
        self, account: Account, user: str | None, *, success: bool
    ) -> dict[str, Any]:
        """ConsoleLogin identities: no session yet, unknown names are hidden by AWS."""
        if user is None:
            return {
                "type": "IAMUser",
                "principalId": "",
                "accountId": account.id,
                "accessKeyId": "",
                "userName": HIDDEN_USER,
            }
        identity: dict[str, Any] = {
            "type": "IAMUser",
            "principalId": self.world.ids.unique_id("AIDA", account.id, user),
            "arn": f"arn:aws:iam::{account.id}:user/{user}",
            "accountId": account.id,
            "userName": user,
        }
        if not success:
            del identity["arn"]
            identity["accessKeyId"] = ""
        return identity
