"""Everyday stories: federated sign-ins each morning, the afternoon deploy, console sessions.

These are the sequences a generic mix cannot produce (a sign-in, then a role switch, then clicks
in another account), written in order from the story stream.
"""

from __future__ import annotations

from collections.abc import Mapping

from trailscope.synth.catalogue import Kind
from trailscope.synth.catalogue.kind import Scope
from trailscope.synth.ids import uuid4_text
from trailscope.synth.incidents import PlantedIncident, chosen_incidents
from trailscope.synth.people import HUMANS, SWITCH_ROLES, UA_BROWSERS, UA_CONSOLE
from trailscope.synth.planner import Scripted
from trailscope.synth.principals import Principal, anonymous
from trailscope.synth.scripting import StoryWriter

# What people look at in the console after switching role.
_CONSOLE_ACTIONS = (
    "DescribeInstances",
    "DescribeSecurityGroups",
    "ListBuckets",
    "GetBucketPolicy",
    "DescribeAlarms",
    "DescribeStacks",
    "LookupEvents",
    "DescribeDBInstances",
    "ListRoles",
    "GetRole",
    "DescribeSubnets",
)
# The afternoon deploy's calls, in order.
_DEPLOY = (
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "ModifyNetworkInterfaceAttribute",
    "RunInstances",
    "CreateTags",
    "ModifyInstanceAttribute",
)


def daily_federation(story: StoryWriter, day: int) -> list[Scripted]:
    """A working day's federated sign-ins: SAML, Identity Center, GitHub OIDC, a broker."""
    world, rng = story.world, story.rng
    management, g = world.accounts[0], world.global_index
    a = min(1, len(world.accounts) - 1)
    account = world.accounts[a]
    t = story.place(story.day_start(day) + 8 * 3600 + rng.randrange(0, 3600))
    kinds = story.kinds
    out: list[Scripted] = []

    def add(
        account_index: int, region_index: int, time: int, kind: Kind, principal: Principal
    ) -> None:
        event = story.api(kind, account_index, region_index, time, principal)
        out.append((account_index, region_index, time, event))

    add(0, g, t, kinds["AssumeRoleWithSAML"], story.pick(management.pools["saml"]))
    portal_user = story.pick(management.pools["identity_center"])
    add(0, g, t + 60, kinds["ListAccounts"], portal_user)
    add(0, g, t + 75, kinds["GetRoleCredentials"], portal_user)
    add(0, g, t + 300, kinds["GetFederationToken"], management.pools["broker"][0])
    add(0, 0, t + 420, kinds["ListBuckets"], story.pick(management.pools["federated"]))
    add(
        a,
        0,
        t + 1800,
        kinds["AssumeRoleWithWebIdentity"],
        story.pick(account.pools["web_identity"]),
    )
    add(a, 0, t + 1900, kinds["AssumeRole"], account.pools["service"][0])
    if account.pools.get("cross_account"):
        add(a, 0, t + 2000, kinds["GetObject"], story.pick(account.pools["cross_account"]))
    return out


def daily_deploy(story: StoryWriter, day: int) -> list[Scripted]:
    """The afternoon deploy: a pipeline reshapes security groups and instances."""
    world, rng = story.world, story.rng
    a = min(1, len(world.accounts) - 1)
    principal = world.accounts[a].pools["pipeline"][1]
    t = story.place(story.day_start(day) + 15 * 3600 + rng.randrange(0, 3600))
    out: list[Scripted] = []
    for name in _DEPLOY:
        t += rng.randrange(2, 40)
        out.append((a, 0, t, story.api(story.kinds[name], a, 0, t, principal)))
    return out


def console_session(story: StoryWriter) -> list[Scripted]:
    """A person signs in (sometimes after a typo), switches role into a workload account
    and clicks around there."""
    world, rng = story.world, story.rng
    management, g = world.accounts[0], world.global_index
    name = story.pick(HUMANS[:6])
    address, user_agent = story.pick(world.human_addresses[name]), story.pick(UA_BROWSERS)
    browser = anonymous(address, user_agent)  # before a session exists
    mfa = name != "frank"
    t = story.place(story.day_start(rng.randrange(story.days)) + rng.randrange(7 * 3600, 19 * 3600))
    out: list[Scripted] = []
    base_details = {"LoginTo": story.login_to(), "MobileVersion": "No"}
    if rng.random() < 0.25:
        event = story.signin(
            0,
            t,
            browser,
            "ConsoleLogin",
            response={"ConsoleLogin": "Failure"},
            details={**base_details, "MFAUsed": "Yes" if mfa else "No"},
            identity=story.login_identity(management, name, success=False),
            error_message="Failed authentication",
            address=address,
            user_agent=user_agent,
        )
        out.append((0, g, t, event))
        t += rng.randrange(15, 60)
    if mfa and rng.random() < 0.5:
        event = story.signin(
            0,
            t,
            browser,
            "CheckMfa",
            response={"CheckMfa": "Success"},
            details={"MfaType": "Virtual MFA"},
            identity=story.login_identity(management, name, success=False),
            address=address,
            user_agent=user_agent,
        )
        out.append((0, g, t, event))
        t += rng.randrange(5, 20)
    details = {**base_details, "MFAUsed": "No"}
    if mfa:
        details = {
            **base_details,
            "MFAIdentifier": f"arn:aws:iam::{management.id}:mfa/{name}",
            "MFAUsed": "Yes",
        }
    login = story.signin(
        0,
        t,
        browser,
        "ConsoleLogin",
        response={"ConsoleLogin": "Success"},
        details=details,
        identity=story.login_identity(management, name, success=True),
        address=address,
        user_agent=user_agent,
    )
    out.append((0, g, t, login))
    user = world.iam_user(
        management,
        name,
        user_agents=[user_agent],
        addresses=[address],
        console=True,
        mfa=mfa,
        created=t,
    )
    t += rng.randrange(20, 90)
    k = rng.randrange(1, len(world.accounts)) if len(world.accounts) > 1 else 0
    role = story.pick(SWITCH_ROLES)
    switched = world.role_session(
        world.accounts[k],
        role,
        name,
        user_agents=UA_CONSOLE,
        addresses=[address],
        console=True,
        mfa=mfa,
        created=t,
    )
    region = world.regions[0]
    switch_details = {
        "SwitchFrom": user.arn,
        "RedirectTo": f"https://{region}.console.aws.amazon.com/console/home?region={region}#",
    }
    shared = uuid4_text(rng.getrandbits(128)) if k else None
    if k:  # the switch is logged in both accounts, sharing an event ID
        event = story.signin(
            0,
            t,
            user,
            "SwitchRole",
            response={"SwitchRole": "Success"},
            details=switch_details,
            shared_event_id=shared,
            address=address,
            user_agent=user_agent,
        )
        out.append((0, g, t, event))
    event = story.signin(
        k,
        t,
        switched,
        "SwitchRole",
        response={"SwitchRole": "Success"},
        details=switch_details,
        shared_event_id=shared,
        address=address,
        user_agent=user_agent,
    )
    out.append((k, g, t, event))
    for _ in range(rng.randrange(4, 11)):
        t += rng.randrange(8, 120)
        kind = story.kinds[story.pick(_CONSOLE_ACTIONS)]
        if kind.scope == Scope.GLOBAL:
            r = g
        else:
            r = 0 if rng.random() < 0.7 else rng.randrange(len(world.regions))
        out.append((k, r, t, story.api(kind, k, r, t, switched, fail=rng.random() < 0.04)))
    return out


def scenarios(
    story: StoryWriter,
    budget: int,
    incidents: bool | Mapping[str, int | None],
    *,
    geography: bool = False,
) -> tuple[list[Scripted], list[PlantedIncident]]:
    """All scripted events, most important first, as many groups as ``budget`` allows."""
    events: list[Scripted] = []
    planted: list[PlantedIncident] = []

    def fits(group: list[Scripted]) -> bool:
        if len(events) + len(group) > budget:
            return False
        events.extend(group)
        return True

    for make, at in chosen_incidents(incidents):
        group, incident = make(story, at)
        if fits(group):
            planted.append(incident)
    if geography and incidents:
        from trailscope.synth.geography import GEO_INCIDENTS

        for make_geo in GEO_INCIDENTS.values():
            group, incident = make_geo(story, None)
            if fits(group):
                planted.append(incident)
    for day in range(story.days):
        fits(daily_federation(story, day))
        fits(daily_deploy(story, day))
    session_count = max(3, min(budget // 2500, 12 * story.days))
    for _ in range(session_count):
        fits(console_session(story))
    return events, planted
