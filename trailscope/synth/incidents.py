"""Planted incidents: suspicious stories with known event IDs, so detections can be tested.

Each incident is written by one function from the story stream and reports the events a
detection must find. The function names match the detections that should catch them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trailscope.synth.catalogue import cloudtrail, ec2, iam
from trailscope.synth.catalogue.call import CallContext
from trailscope.synth.catalogue.kind import scripted
from trailscope.synth.people import UA_BROWSERS, UA_CLI
from trailscope.synth.planner import Scripted
from trailscope.synth.principals import anonymous
from trailscope.synth.scripting import StoryWriter


@dataclass
class PlantedIncident:
    """A suspicious story planted on purpose, so detections can be tested against known IDs."""

    name: str
    description: str
    event_ids: list[str]


def root_console_login_without_mfa(story: StoryWriter) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    a = min(1, len(world.accounts) - 1)
    account, g = world.accounts[a], world.global_index
    t = story.place(story.day_start(story.days // 2) + 3 * 3600 + rng.randrange(300, 3000))
    root = world.root(account, ["203.0.113.45"], [UA_BROWSERS[1]])
    login = story.signin(
        a,
        t,
        root,
        "ConsoleLogin",
        response={"ConsoleLogin": "Success"},
        details={"LoginTo": story.login_to(), "MobileVersion": "No", "MFAUsed": "No"},
        identity={
            "type": "Root",
            "principalId": account.id,
            "arn": f"arn:aws:iam::{account.id}:root",
            "accountId": account.id,
            "accessKeyId": "",
        },
    )
    out: list[Scripted] = [(a, g, t, login)]
    for i, name in enumerate(("GetAccountSummary", "ListUsers", "ListAccessKeys")):
        ti = t + 40 + 50 * i + rng.randrange(30)
        out.append((a, g, ti, story.api(scripted(iam.SOURCE, name, True), a, g, ti, root)))
    return out, PlantedIncident(
        "root-console-login-without-mfa",
        f"The root user of account {account.id} signed in to the console without MFA at night "
        "from an address never seen before, then listed users and access keys.",
        [login["eventID"]],
    )


def console_login_brute_force(story: StoryWriter) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    address, user_agent = "203.0.113.201", UA_BROWSERS[3]
    attacker = anonymous(address, user_agent)
    t = story.place(story.day_start(max(0, story.days - 2)) + 2 * 3600 + rng.randrange(0, 1800))
    out: list[Scripted] = []
    for i in range(24):
        t += rng.randrange(12, 22)
        event = story.signin(
            0,
            t,
            attacker,
            "ConsoleLogin",
            response={"ConsoleLogin": "Failure"},
            details={"LoginTo": story.login_to(), "MobileVersion": "No", "MFAUsed": "No"},
            identity=story.login_identity(account, "alice" if i % 4 == 0 else None, success=False),
            error_message="Failed authentication",
        )
        out.append((0, g, t, event))
    return out, PlantedIncident(
        "console-login-brute-force",
        f"24 failed console sign-ins to account {account.id} from {address} within ten minutes, "
        "mostly for user names that do not exist.",
        [event["eventID"] for *_, event in out],
    )


def security_group_ssh_open_to_world(
    story: StoryWriter,
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    a = min(1, len(world.accounts) - 1)
    account = world.accounts[a]
    resources = world.resources[(a, 0)]
    bastion = next(group for group, name in resources.security_groups if name == "bastion")
    t = story.place(story.day_start(min(1, story.days - 1)) + 14 * 3600 + rng.randrange(0, 3000))
    principal = account.pools["console"][3]
    kind = story.kinds[ec2.AUTHORIZE_INGRESS]

    def opening(**cidr: str) -> Callable[[CallContext], dict[str, Any]]:
        def build(call: CallContext) -> dict[str, Any]:
            rule = ec2.permission("tcp", 22, **cidr)
            return ec2.security_group_change(call, kind.name, rule, bastion)

        return build

    v4 = story.api(kind, a, 0, t, principal, opening(cidr="0.0.0.0/0"))
    v6 = story.api(kind, a, 0, t + 45, principal, opening(cidr6="::/0"))
    return [(a, 0, t, v4), (a, 0, t + 45, v6)], PlantedIncident(
        "security-group-ssh-open-to-world",
        f"Security group {bastion} in {world.regions[0]} was opened to 0.0.0.0/0 and ::/0 "
        "on port 22.",
        [v4["eventID"], v6["eventID"]],
    )


def cloudtrail_stop_logging(story: StoryWriter) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    principal = world.role_session(
        account, "Admin", "heidi", user_agents=[UA_CLI[1]], addresses=["203.0.113.99"]
    )
    t = story.place(story.day_start(story.days - 1) + 21 * 3600 + rng.randrange(0, 1800))
    stop_logging = scripted(cloudtrail.SOURCE, "StopLogging", False, cloudtrail.the_trail)
    stop = story.api(stop_logging, 0, g, t, principal)
    t2 = t + 1500 + rng.randrange(600)
    start_logging = scripted(cloudtrail.SOURCE, "StartLogging", False, cloudtrail.the_trail)
    start = story.api(start_logging, 0, g, t2, principal)
    return [(0, g, t, stop), (0, g, t2, start)], PlantedIncident(
        "cloudtrail-stop-logging",
        f"Trail {world.trail_name} was stopped by an assumed role from an unusual address "
        "(and restarted about half an hour later).",
        [stop["eventID"]],
    )


def access_key_created_for_another_user(
    story: StoryWriter,
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    alice = account.users["alice"]
    t = story.place(story.day_start(story.days // 3) + 11 * 3600 + rng.randrange(0, 3000))

    def build(call: CallContext) -> dict[str, Any]:
        return {
            "requestParameters": {"userName": "bob"},
            "responseElements": iam.access_key(call, "bob"),
            "_target": f"arn:aws:iam::{account.id}:user/bob",
        }

    event = story.api(story.kinds["CreateAccessKey"], 0, g, t, alice, build)
    return [(0, g, t, event)], PlantedIncident(
        "access-key-created-for-another-user",
        "IAM user alice created an access key for IAM user bob.",
        [event["eventID"]],
    )


#: Every incident, in the order they are planted (the order is part of the output).
INCIDENTS: tuple[Callable[[StoryWriter], tuple[list[Scripted], PlantedIncident]], ...] = (
    root_console_login_without_mfa,
    console_login_brute_force,
    security_group_ssh_open_to_world,
    cloudtrail_stop_logging,
    access_key_created_for_another_user,
)
