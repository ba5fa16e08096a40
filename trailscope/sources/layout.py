"""What an object's key says about it, before anyone pays to read it.

CloudTrail delivers to ``AWSLogs/[<org-id>/]<account>/CloudTrail[-Digest|-Insight]/<region>/
YYYY/MM/DD/<file>``. Everything that lets a run skip work (the account, the region, the delivery
day, whether the file is a log at all) is in that key, so listers decide from it alone.

:class:`Position` describes a *folder* in that layout, so listers can decide whether a folder can
hold anything wanted without looking inside; :func:`classify_key` describes an *object*.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from enum import Enum, StrEnum
from functools import lru_cache
from operator import attrgetter

AWSLOGS = "AWSLogs"
CONFIG_CHECK_FILE = "ConfigWritabilityCheckFile"

_ORG_RE = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
# us-east-1, us-gov-west-1, us-isob-east-1, ap-southeast-7, mx-central-1 ...
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+-[0-9]{1,2}")
_YEAR_RE = re.compile(r"[0-9]{4}")
_TWO_DIGITS_RE = re.compile(r"[0-9]{2}")
_LOG_SUFFIXES = (".json.gz", ".json")


class ObjectKind(StrEnum):
    """What a listed object is, as far as its key tells."""

    LOG = "log"
    DIGEST = "digest"
    INSIGHT = "insight"
    OTHER = "other"


# The folder under the account that holds each kind; the only folders a layout walk enters.
KIND_FOLDERS: dict[str, ObjectKind] = {
    "CloudTrail": ObjectKind.LOG,
    "CloudTrail-Digest": ObjectKind.DIGEST,
    "CloudTrail-Insight": ObjectKind.INSIGHT,
}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the key of one object says; ``None`` where the key does not say (flat files)."""

    kind: ObjectKind
    account: str | None = None
    region: str | None = None
    day: datetime.date | None = None  # the DELIVERY day (UTC), not the events' day
    org_id: str | None = None

    def __reduce__(self) -> tuple[type[KeyInfo], tuple[object, ...]]:
        # Batches travel to worker processes: the arguments pickle and load in a third of the
        # time of a frozen dataclass's default state (one setattr per field, in Python).
        return KeyInfo, _key_info_values(self)


_key_info_values = attrgetter(*(f.name for f in fields(KeyInfo)))


class Level(Enum):
    """Where a folder sits in the layout, which decides what its children can be."""

    AWSLOGS = "AWSLogs"
    ORG = "org"
    ACCOUNT = "account"
    KIND = "kind"  # CloudTrail/, CloudTrail-Digest/, CloudTrail-Insight/
    REGION = "region"
    YEAR = "year"
    MONTH = "month"
    DAY = "day"
    DEEPER = "deeper"  # below a day folder: still that day
    UNDATED = "undated"  # under a region but not a YYYY/MM/DD path
    FOREIGN = "foreign"  # other services, unknown names: never CloudTrail, never walked


@dataclass(frozen=True, slots=True)
class Position:
    """A folder's place in the layout and everything its path pins down for what is below it."""

    level: Level
    org_id: str | None = None
    account: str | None = None
    kind: ObjectKind | None = None  # set once inside one of KIND_FOLDERS
    region: str | None = None
    year: int | None = None
    month: int | None = None
    day: datetime.date | None = None

    def child(self, name: str) -> Position:
        """The position of the sub-folder ``name``; a single step so walkers can prune early."""
        level = self.level
        if level is Level.AWSLOGS:
            if _ORG_RE.fullmatch(name):
                return replace(self, level=Level.ORG, org_id=name)
            return self._account(name)
        if level is Level.ORG:
            return self._account(name)
        if level is Level.ACCOUNT:
            kind = KIND_FOLDERS.get(name)
            return replace(self, level=Level.KIND, kind=kind) if kind else self._foreign()
        if level is Level.KIND:
            if _REGION_RE.fullmatch(name):
                return replace(self, level=Level.REGION, region=name)
            return self._foreign()
        if level in _DATE_STEPS:
            return _DATE_STEPS[level](self, name)
        if level is Level.DAY:
            return replace(self, level=Level.DEEPER)
        return self  # DEEPER, UNDATED and FOREIGN stay what they are

    def day_span(self) -> tuple[datetime.date, datetime.date] | None:
        """First and last delivery day any object below can have, if the path fixes them."""
        if self.day is not None:
            return self.day, self.day
        if self.year is not None and self.month is not None:
            last = calendar.monthrange(self.year, self.month)[1]
            return (
                datetime.date(self.year, self.month, 1),
                datetime.date(self.year, self.month, last),
            )
        if self.year is not None:
            return datetime.date(self.year, 1, 1), datetime.date(self.year, 12, 31)
        return None

    def _account(self, name: str) -> Position:
        if _ACCOUNT_RE.fullmatch(name):
            return replace(self, level=Level.ACCOUNT, account=name)
        return self._foreign()

    def _foreign(self) -> Position:
        return replace(self, level=Level.FOREIGN, kind=None, region=None)

    def _undated(self) -> Position:
        return replace(self, level=Level.UNDATED, year=None, month=None, day=None)


def _year_step(pos: Position, name: str) -> Position:
    if _YEAR_RE.fullmatch(name) and int(name) >= 1:
        return replace(pos, level=Level.YEAR, year=int(name))
    return pos._undated()


def _month_step(pos: Position, name: str) -> Position:
    if _TWO_DIGITS_RE.fullmatch(name) and 1 <= int(name) <= 12:
        return replace(pos, level=Level.MONTH, month=int(name))
    return pos._undated()


def _day_step(pos: Position, name: str) -> Position:
    assert pos.year is not None and pos.month is not None
    if _TWO_DIGITS_RE.fullmatch(name):
        try:
            day = datetime.date(pos.year, pos.month, int(name))
        except ValueError:
            return pos._undated()
        return replace(pos, level=Level.DAY, day=day)
    return pos._undated()


_DATE_STEPS = {Level.REGION: _year_step, Level.YEAR: _month_step, Level.MONTH: _day_step}

# Levels at which everything below is one contiguous, date-ordered run of keys.
RANGE_LEVELS = frozenset(
    {Level.REGION, Level.YEAR, Level.MONTH, Level.DAY, Level.DEEPER, Level.UNDATED}
)


def locate(folders: Iterable[str]) -> Position | None:
    """The layout position of a folder path, or ``None`` if it is not inside an ``AWSLogs`` tree.

    The innermost ``AWSLogs`` segment wins, so a copy kept under some other folder that happens
    to be called ``AWSLogs`` is still read right.
    """
    parts = [p for p in folders if p]
    try:
        start = len(parts) - 1 - parts[::-1].index(AWSLOGS)
    except ValueError:
        return None
    pos = Position(Level.AWSLOGS)
    for name in parts[start + 1 :]:
        pos = pos.child(name)
    return pos


@lru_cache(maxsize=4096)
def _locate_folder(folder: str) -> Position | None:
    """:func:`locate` once per folder: a listing classifies every key of a day folder, and
    walking the path again for each of them was most of the listing's time."""
    return locate(folder.split("/"))


def looks_like_log(name: str) -> bool:
    """CloudTrail only writes gzipped JSON; anything else in its folders is someone else's."""
    return name.lower().endswith(_LOG_SUFFIXES)


def classify_key(key: str) -> KeyInfo:
    """Tell what an object is from its key (or path), without reading it.

    Outside the layout every file but hidden ones and the AWS Config probe file counts as a log:
    exported events come with any extension, and the decoder quarantines what is not CloudTrail.
    """
    folder, _, name = key.rpartition("/")
    pos = _locate_folder(folder)
    if pos is None:
        ignored = not name or name.startswith(".") or name == CONFIG_CHECK_FILE
        return KeyInfo(ObjectKind.OTHER if ignored else ObjectKind.LOG)
    kind = ObjectKind.OTHER
    if (
        pos.kind is not None
        and pos.level is not Level.FOREIGN
        and name
        and not name.startswith(".")
        and name != CONFIG_CHECK_FILE
        and looks_like_log(name)
    ):
        kind = pos.kind
    return KeyInfo(
        kind=kind, account=pos.account, region=pos.region, day=pos.day, org_id=pos.org_id
    )
