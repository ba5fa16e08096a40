"""Where the synthetic people are (``geography=True``): home countries, a sign-in from abroad
and an impossible journey.

Without geography every address is in a documentation range (no real host, no country).
With it, each person signs in from addresses of their home country's internet providers, as
the regional registries delegate them, so any country database (the bundled one included)
places them; the planted sign-ins come from countries nobody lives in.
"""

from __future__ import annotations

from trailscope.synth.homes import FAR_AWAY, FOREIGN, HOMES
from trailscope.synth.incidents import PlantedIncident, _planted
from trailscope.synth.people import UA_BROWSERS
from trailscope.synth.planner import Scripted
from trailscope.synth.principals import anonymous
from trailscope.synth.scripting import StoryWriter


def _login(story: StoryWriter, t: int, name: str, address: str) -> dict[str, object]:
    world = story.world
    management = world.accounts[0]
    browser = anonymous(address, UA_BROWSERS[0])
    return story.signin(
        0,
        t,
        browser,
        "ConsoleLogin",
        response={"ConsoleLogin": "Success"},
        details={
            "LoginTo": story.login_to(),
            "MobileVersion": "No",
            "MFAIdentifier": f"arn:aws:iam::{management.id}:mfa/{name}",
            "MFAUsed": "Yes",
        },
        identity=story.login_identity(management, name, success=True),
        address=address,
        user_agent=UA_BROWSERS[0],
    )


def console_login_from_new_country(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    """carol signs in from home on the first days, then from a country she never used."""
    rng, g = story.rng, story.world.global_index
    name, (_, home) = "carol", HOMES["carol"]
    out: list[Scripted] = []
    for day in range(max(1, story.days - 1)):
        t = story.day_start(day) + 8 * 3600 + rng.randrange(0, 3600)
        out.append((0, g, t, _login(story, t, name, home[day % len(home)])))
    last = story.day_start(story.days - 1)
    t = story.when(last + 23 * 3600 + rng.randrange(0, 1800), at)
    foreign = _login(story, t, name, FOREIGN[0])
    out.append((0, g, t, foreign))
    return out, _planted(
        "console-login-from-new-country",
        "console-login-from-new-country",
        f"IAM user {name}, who signs in from {HOMES[name][0]}, signed in from {FOREIGN[0]} "
        f"({FOREIGN[1]}) late on the last day.",
        [foreign],
    )


def impossible_travel(
    story: StoryWriter, at: int | None = None
) -> tuple[list[Scripted], PlantedIncident]:
    """bob signs in at home, then from the other side of the world 40 minutes later."""
    rng, g = story.rng, story.world.global_index
    name, (_, home) = "bob", HOMES["bob"]
    day = max(0, story.days - 2)
    t = story.when(story.day_start(day) + 16 * 3600 + rng.randrange(0, 1800), at)
    first = _login(story, t, name, home[0])
    t2 = t + 40 * 60 + rng.randrange(0, 300)
    second = _login(story, t2, name, FAR_AWAY[0])
    return [(0, g, t, first), (0, g, t2, second)], _planted(
        "impossible-travel",
        "impossible-travel",
        f"IAM user {name} signed in from {home[0]} ({HOMES[name][0]}) and 40 minutes later "
        f"from {FAR_AWAY[0]} ({FAR_AWAY[1]}).",
        [first, second],
    )


GEO_INCIDENTS = {
    "console-login-from-new-country": console_login_from_new_country,
    "impossible-travel": impossible_travel,
}
