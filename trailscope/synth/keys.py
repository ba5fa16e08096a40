"""Where a trail's objects go: CloudTrail's S3 key layout, and the generator's side files."""

from __future__ import annotations

from trailscope.synth.clock import day_of, stamp_minute, stamp_second
from trailscope.synth.world import World

#: Bucket name written into every s3Bucket / digestS3Bucket field.
SAMPLE_BUCKET = "trailscope-sample-trail"
#: Where digest signatures go: S3 keeps them in object metadata, which a local copy loses.
SIGNATURES_FILE = "_synth/digest-signatures.json"
#: The PEM public key matching the signatures (SubjectPublicKeyInfo).
PUBLIC_KEY_FILE = "_synth/public-key.pem"


def account_prefix(world: World, account_index: int) -> str:
    """``AWSLogs/[<org id>/]<account>``: an organization trail adds the organization's ID."""
    org = f"{world.org_id}/" if world.org_id else ""
    return f"AWSLogs/{org}{world.accounts[account_index].id}"


def _delivered(world: World, folder: str, account_index: int, region_index: int, at: int) -> str:
    """``<prefix>/<folder>/<region>/YYYY/MM/DD/<account>_<folder>_<region>_`` of a delivery."""
    account, region = world.accounts[account_index].id, world.regions[region_index]
    return (
        f"{account_prefix(world, account_index)}/{folder}/{region}/{day_of(at):%Y/%m/%d}/"
        f"{account}_{folder}_{region}_"
    )


def log_key(world: World, account_index: int, region_index: int, delivery: int, suffix: str) -> str:
    """A log file's key, named after its delivery minute."""
    start = _delivered(world, "CloudTrail", account_index, region_index, delivery)
    return f"{start}{stamp_minute(delivery)}_{suffix}.json.gz"


def insight_key(
    world: World, account_index: int, region_index: int, delivery: int, suffix: str
) -> str:
    """An Insights file's key, named after its delivery minute."""
    start = _delivered(world, "CloudTrail-Insight", account_index, region_index, delivery)
    return f"{start}{stamp_minute(delivery)}_{suffix}.json.gz"


def digest_key(world: World, account_index: int, region_index: int, end: int) -> str:
    """A digest file's key: the trail's name and home region, and the digest's end second."""
    start = _delivered(world, "CloudTrail-Digest", account_index, region_index, end)
    return f"{start}{world.trail_name}_{world.global_region}_{stamp_second(end)}.json.gz"


def writability_check_key(world: World, account_index: int) -> str:
    """The object CloudTrail writes when a trail is created, to check it may write."""
    return f"{account_prefix(world, account_index)}/CloudTrail/ConfigWritabilityCheckFile"
