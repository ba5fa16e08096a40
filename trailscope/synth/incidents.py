"""Planted incidents: suspicious stories with known event IDs, so detections can be tested.

Each incident is written by one function from the story stream and reports the events a
detection must find. The function names match the detections that should catch them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
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
    """A suspicious story planted on purpose, so detections can be tested against known IDs.

    :param event_ids: the events a detection must find (not the whole story).
    :param rule_id: the built-in detection that must catch it.
    :param time: when the first of those events happened.
    :param account: the account it happened in.
    """

    name: str
    description: str
    event_ids: list[str]
    rule_id: str = ""
    time: dt.datetime | None = None
    account: str = ""


def _planted(
    name: str, rule_id: str, description: str, events: list[dict[str, Any]]
) -> PlantedIncident:
    first = min(event["eventTime"] for event in events)
    return PlantedIncident(
        name,
        description,
        [event["eventID"] for event in events],
        rule_id=rule_id,
        time=dt.datetime.fromisoformat(first.replace("Z", "+00:00")),
        account=events[0]["recipientAccountId"],
    )


def root_console_login_without_mfa(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    a = min(1, len(world.accounts) - 1)
    account, g = world.accounts[a], world.global_index
    t = story.when(
        story.place(story.day_start(story.days // 2) + 3 * 3600 + rng.randrange(300, 3000)), at
    )
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
    return out, _planted(
        "root-console-login-without-mfa",
        "root-console-login",
        f"The root user of account {account.id} signed in to the console without MFA at night "
        "from an address never seen before, then listed users and access keys.",
        [login],
    )


def console_login_brute_force(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    address, user_agent = "203.0.113.201", UA_BROWSERS[3]
    attacker = anonymous(address, user_agent)
    t = story.when(
        story.place(story.day_start(max(0, story.days - 2)) + 2 * 3600 + rng.randrange(0, 1800)), at
    )
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
    return out, _planted(
        "console-login-brute-force",
        "failed-console-logins-from-one-ip",
        f"24 failed console sign-ins to account {account.id} from {address} within ten minutes, "
        "mostly for user names that do not exist.",
        [event for *_, event in out],
    )


def security_group_ssh_open_to_world(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    a = min(1, len(world.accounts) - 1)
    account = world.accounts[a]
    resources = world.resources[(a, 0)]
    bastion = next(group for group, name in resources.security_groups if name == "bastion")
    t = story.when(
        story.place(story.day_start(min(1, story.days - 1)) + 14 * 3600 + rng.randrange(0, 3000)),
        at,
    )
    principal = account.pools["console"][3]
    kind = story.kinds[ec2.AUTHORIZE_INGRESS]

    def opening(rule: dict[str, Any]) -> Callable[[CallContext], dict[str, Any]]:
        def build(call: CallContext) -> dict[str, Any]:
            return ec2.security_group_change(call, kind.name, rule, bastion)

        return build

    v4_rule = ec2.permission("tcp", 22, cidr="0.0.0.0/0")
    v6_rule = ec2.permission("tcp", 22, cidr6="::/0")
    v4 = story.api(kind, a, 0, t, principal, opening(v4_rule))
    v6 = story.api(kind, a, 0, t + 45, principal, opening(v6_rule))
    return [(a, 0, t, v4), (a, 0, t + 45, v6)], _planted(
        "security-group-ssh-open-to-world",
        "security-group-opened-to-world",
        f"Security group {bastion} in {world.regions[0]} was opened to 0.0.0.0/0 and ::/0 "
        "on port 22.",
        [v4, v6],
    )


def cloudtrail_stop_logging(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    principal = world.role_session(
        account, "Admin", "heidi", user_agents=[UA_CLI[1]], addresses=["203.0.113.99"]
    )
    t = story.when(
        story.place(story.day_start(story.days - 1) + 21 * 3600 + rng.randrange(0, 1800)), at
    )
    stop_logging = scripted(cloudtrail.SOURCE, "StopLogging", False, cloudtrail.the_trail)
    stop = story.api(stop_logging, 0, g, t, principal)
    t2 = t + 1500 + rng.randrange(600)
    start_logging = scripted(cloudtrail.SOURCE, "StartLogging", False, cloudtrail.the_trail)
    start = story.api(start_logging, 0, g, t2, principal)
    return [(0, g, t, stop), (0, g, t2, start)], _planted(
        "cloudtrail-stop-logging",
        "cloudtrail-logging-disrupted",
        f"Trail {world.trail_name} was stopped by an assumed role from an unusual address "
        "(and restarted about half an hour later).",
        [stop],
    )


def access_key_created_for_another_user(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    world, rng = story.world, story.rng
    account, g = world.accounts[0], world.global_index
    alice = account.users["alice"]
    t = story.when(
        story.place(story.day_start(story.days // 3) + 11 * 3600 + rng.randrange(0, 3000)), at
    )

    def build(call: CallContext) -> dict[str, Any]:
        return {
            "requestParameters": {"userName": "bob"},
            "responseElements": iam.access_key(call, "bob"),
            "_target": f"arn:aws:iam::{account.id}:user/bob",
        }

    event = story.api(story.kinds["CreateAccessKey"], 0, g, t, alice, build)
    return [(0, g, t, event)], _planted(
        "access-key-created-for-another-user",
        "access-key-created-for-another-user",
        "IAM user alice created an access key for IAM user bob.",
        [event],
    )


#: Writes an incident (at its usual time, or at the second ``at``): its events and report.
Incident = Callable[[StoryWriter, int | None], tuple[list[Scripted], PlantedIncident]]
#: Every incident by name, in the order they are planted (the order is part of the output).
INCIDENTS: dict[str, Incident] = {
    "root-console-login-without-mfa": root_console_login_without_mfa,
    "console-login-brute-force": console_login_brute_force,
    "security-group-ssh-open-to-world": security_group_ssh_open_to_world,
    "cloudtrail-stop-logging": cloudtrail_stop_logging,
    "access-key-created-for-another-user": access_key_created_for_another_user,
}


def chosen_incidents(
    incidents: bool | Mapping[str, int | None],
) -> list[tuple[Incident, int | None]]:
    """The incidents to plant and when: all at their usual times (True), none (False), or the
    named ones, each at its time (None: its usual time)."""
    if isinstance(incidents, bool):
        return [(make, None) for make in INCIDENTS.values()] if incidents else []
    unknown = sorted(set(incidents) - set(INCIDENTS))
    if unknown:
        raise ValueError(f"unknown incidents {unknown}; known: {sorted(INCIDENTS)}")
    return [(make, incidents[name]) for name, make in INCIDENTS.items() if name in incidents]
