"""LocalSource: listing, pruning, versions and read errors on small trees built in tmp_path."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from trailscope.errors import SourceError, SourceReadError
from trailscope.sources import (
    KeyInfo,
    ListFilter,
    LocalSource,
    ObjectKind,
    SourceObject,
    classify_key,
    open_source,
)
from trailscope.sources import local as local_module

ORG = "o-abcdefghij"
A, B = "111122223333", "444455556666"
REGIONS = ("eu-west-1", "us-east-1")
DAYS = [date(2024, 6, d) for d in range(1, 6)]


def _day_path(day: date) -> str:
    return f"{day:%Y/%m/%d}"


def trail_keys() -> list[str]:
    """An org trail: 2 accounts x 2 regions x 5 days of logs, digests, an insight, a probe."""
    keys = []
    for acct in (A, B):
        base = f"AWSLogs/{ORG}/{acct}"
        for region in REGIONS:
            for day in DAYS:
                stamp = f"{day:%Y%m%d}T2355Z"
                keys.append(
                    f"{base}/CloudTrail/{region}/{_day_path(day)}/"
                    f"{acct}_CloudTrail_{region}_{stamp}_abc.json.gz"
                )
                keys.append(f"{base}/CloudTrail-Digest/{region}/{_day_path(day)}/digest.json.gz")
        keys.append(f"{base}/CloudTrail-Insight/us-east-1/2024/06/03/insight.json.gz")
        keys.append(f"{base}/CloudTrail/ConfigWritabilityCheckFile")
    return sorted(keys)


# Present in the bucket copy but never part of a CloudTrail listing.
NOISE_KEYS = [
    f"AWSLogs/{ORG}/{B}/elasticloadbalancing/us-east-1/2024/06/02/lb.log.gz",
    f"AWSLogs/{B}/Config/ConfigWritabilityCheckFile",
    "other-service/readme.txt",
]


def make_tree(root: Path, keys: Iterable[str]) -> Path:
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())
    return root


@pytest.fixture
def bucket_copy(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "bucket", [*trail_keys(), *NOISE_KEYS])


def keys_of(objects: Iterable[SourceObject]) -> list[str]:
    return [o.key for o in objects]


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=UTC)


# -- listing -------------------------------------------------------------------------------


def test_bucket_copy_lists_only_the_cloudtrail_tree_sorted(bucket_copy: Path) -> None:
    objects = list(LocalSource(bucket_copy).iter_objects())
    assert keys_of(objects) == trail_keys()  # sorted, no ELB/Config/other-service noise
    for obj in objects:
        assert obj.info == classify_key(obj.key)
        assert obj.uri == str(bucket_copy / obj.key)
        assert obj.size == len(obj.key.encode())
    kinds = {o.info.kind for o in objects}
    assert kinds == {ObjectKind.LOG, ObjectKind.DIGEST, ObjectKind.INSIGHT, ObjectKind.OTHER}


@pytest.mark.parametrize(
    "start",
    [
        "AWSLogs",
        f"AWSLogs/{ORG}",
        f"AWSLogs/{ORG}/{A}",
        f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1",
        f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1/2024/06",
        f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1/2024/06/03",
    ],
)
def test_root_anywhere_in_the_layout_keeps_key_meaning(bucket_copy: Path, start: str) -> None:
    objects = list(open_source(str(bucket_copy / start)).iter_objects())
    expected = [k[len(start) + 1 :] for k in trail_keys() if k.startswith(start + "/")]
    assert keys_of(objects) == expected
    for obj in objects:
        # Keys are relative, but account/region/day still come from the folders above.
        assert obj.info == classify_key(f"{start}/{obj.key}")


def test_filters_by_account_region_kind_and_window_with_margin(bucket_copy: Path) -> None:
    flt = ListFilter(
        since=at(3, 10),
        until=at(3, 20),
        accounts=frozenset({A}),
        regions=frozenset({"us-east-1"}),
        kinds=frozenset({ObjectKind.LOG}),
    )
    objects = list(LocalSource(bucket_copy).iter_objects(flt))
    assert [(o.info.account, o.info.region, o.info.day) for o in objects] == [
        (A, "us-east-1", date(2024, 6, d)) for d in (2, 3, 4)
    ]
    no_margin = ListFilter(**{**_fields(flt), "margin_days": 0})
    assert [o.info.day for o in LocalSource(bucket_copy).iter_objects(no_margin)] == [DAYS[2]]


def test_since_only_and_until_only_windows(bucket_copy: Path) -> None:
    src = LocalSource(bucket_copy)
    kinds = frozenset({ObjectKind.LOG})
    since = {o.info.day for o in src.iter_objects(ListFilter(since=at(4), kinds=kinds))}
    until = {o.info.day for o in src.iter_objects(ListFilter(until=at(1), kinds=kinds))}
    assert since == {DAYS[2], DAYS[3], DAYS[4]}
    assert until == {DAYS[0], DAYS[1]}


def test_time_window_drops_undated_layout_objects(bucket_copy: Path) -> None:
    src = LocalSource(bucket_copy)
    others = [o.key for o in src.iter_objects(ListFilter(kinds=frozenset({ObjectKind.OTHER})))]
    assert others == [f"AWSLogs/{ORG}/{a}/CloudTrail/ConfigWritabilityCheckFile" for a in (A, B)]
    windowed = ListFilter(since=at(3), kinds=frozenset({ObjectKind.OTHER}))
    assert list(src.iter_objects(windowed)) == []


def test_pruning_never_enters_excluded_folders(
    bucket_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visited: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> object:
        visited.append(os.path.relpath(path, bucket_copy))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    flt = ListFilter(
        since=at(3),
        until=at(3),
        accounts=frozenset({A}),
        regions=frozenset({"us-east-1"}),
        kinds=frozenset({ObjectKind.LOG}),
    )
    objects = list(LocalSource(bucket_copy).iter_objects(flt))
    assert len(objects) == 3
    region = f"AWSLogs/{ORG}/{A}/CloudTrail/us-east-1"
    assert visited == [  # the bucket copy's root itself needs no listing: AWSLogs/ is known
        "AWSLogs",
        f"AWSLogs/{ORG}",
        f"AWSLogs/{ORG}/{A}",
        f"AWSLogs/{ORG}/{A}/CloudTrail",
        region,
        f"{region}/2024",
        f"{region}/2024/06",
        f"{region}/2024/06/02",
        f"{region}/2024/06/03",
        f"{region}/2024/06/04",
    ]


def test_root_excluded_by_filter_lists_nothing(
    bucket_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "scandir", lambda p: calls.append(p) or pytest.fail("scanned"))
    src = LocalSource(bucket_copy / f"AWSLogs/{ORG}/{A}")
    assert list(src.iter_objects(ListFilter(accounts=frozenset({B})))) == []
    assert calls == []


def test_flat_folder_lists_every_file_recursively(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "exports",
        [
            "b.json",
            "a/events.json.gz",
            "a.log",
            "z/deep/er/out.ndjson",
            "noext",
            ".DS_Store",
            "ConfigWritabilityCheckFile",
        ],
    )
    objects = list(LocalSource(root).iter_objects())
    assert keys_of(objects) == sorted(keys_of(objects))
    assert {o.key: o.info for o in objects} == {
        ".DS_Store": KeyInfo(ObjectKind.OTHER),
        "ConfigWritabilityCheckFile": KeyInfo(ObjectKind.OTHER),
        "a.log": KeyInfo(ObjectKind.LOG),
        "a/events.json.gz": KeyInfo(ObjectKind.LOG),
        "b.json": KeyInfo(ObjectKind.LOG),
        "noext": KeyInfo(ObjectKind.LOG),
        "z/deep/er/out.ndjson": KeyInfo(ObjectKind.LOG),
    }
    # Nothing is known about flat files' dates or accounts, so filters on them let files pass.
    flt = ListFilter(since=at(3), accounts=frozenset({A}), kinds=frozenset({ObjectKind.LOG}))
    assert keys_of(LocalSource(root).iter_objects(flt)) == [
        "a.log",
        "a/events.json.gz",
        "b.json",
        "noext",
        "z/deep/er/out.ndjson",
    ]


def test_folders_above_the_root_do_not_change_key_meaning(tmp_path: Path) -> None:
    # A hidden parent folder must not make every file "hidden"; only names below the root count.
    root = make_tree(tmp_path / ".cache" / "exports", ["events.json"])
    assert [o.info for o in LocalSource(root).iter_objects()] == [KeyInfo(ObjectKind.LOG)]


def test_symlinked_folders_do_not_loop_or_repeat(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "flat", ["real/x.json", "top.json"])
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / "real", target_is_directory=True)
    make_tree(tmp_path / "outside", ["o.json"])
    (root / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "dangling.json").symlink_to(tmp_path / "missing.json")
    # "again" sorts first, so the real folder is reached through it, then not walked again.
    # The dangling link is listed so that reading it reports it (the run quarantines it).
    src = LocalSource(root)
    assert keys_of(src.iter_objects()) == [
        "again/x.json",
        "dangling.json",
        "linked/o.json",
        "top.json",
    ]
    dangling = next(o for o in src.iter_objects() if o.key == "dangling.json")
    with pytest.raises(SourceReadError) as broken:
        src.read(dangling)
    assert broken.value.reason == "broken symbolic link"


def test_single_file_source(bucket_copy: Path, tmp_path: Path) -> None:
    key = trail_keys()[0]
    src = open_source(str(bucket_copy / key))
    (obj,) = src.iter_objects()
    assert obj.key == Path(key).name
    assert obj.info == classify_key(key)
    assert src.read(obj) == key.encode()
    assert list(src.iter_objects(ListFilter(accounts=frozenset({B})))) == []
    flat = make_tree(tmp_path, ["one.log"]) / "one.log"
    (flat_obj,) = open_source(str(flat)).iter_objects()
    assert (flat_obj.key, flat_obj.info) == ("one.log", KeyInfo(ObjectKind.LOG))


# -- versions and reads --------------------------------------------------------------------


def test_version_changes_when_content_changes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", ["f.json"])
    src = LocalSource(root)
    (before,) = src.iter_objects()
    (root / "f.json").write_bytes(b"longer content")
    (after_size,) = src.iter_objects()
    stat = os.stat(root / "f.json")
    (root / "f.json").write_bytes(b"same size  mod")  # same size, new mtime
    os.utime(root / "f.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    (after_mtime,) = src.iter_objects()
    assert len({before.version, after_size.version, after_mtime.version}) == 3
    (again,) = src.iter_objects()
    assert again.version == after_mtime.version == f"{stat.st_mtime_ns + 1_000_000}-14"


def test_read_errors_name_the_file_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree(tmp_path / "d", ["a.json", "b.json", "c.json"])
    src = LocalSource(root)
    a, b, c = src.iter_objects()
    assert src.read(a) == b"a.json"
    assert src.read_metadata(a) == {}

    (root / "a.json").unlink()
    with pytest.raises(SourceReadError) as vanished:
        src.read(a)
    assert (vanished.value.key, vanished.value.reason) == (a.uri, "file vanished")
    assert str(vanished.value) == f"{a.uri}: file vanished"

    (root / "b.json").unlink()
    (root / "b.json").mkdir()
    with pytest.raises(SourceReadError) as not_a_file:
        src.read(b)
    assert not_a_file.value.reason == "Is a directory"

    def denied(path: str, mode: str) -> object:  # tests run as root: chmod can't deny reads
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(local_module, "open", denied, raising=False)
    with pytest.raises(SourceReadError) as no_access:
        src.read(c)
    assert no_access.value.reason == "permission denied"


def test_an_unreadable_subfolder_is_handed_on_to_be_reported_and_the_listing_goes_on(
    bucket_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if path.endswith(B):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    src = LocalSource(bucket_copy)
    listed = list(src.iter_objects())
    unlisted = [o for o in listed if o.key.endswith("/")]
    assert keys_of(unlisted) == [f"AWSLogs/{B}/", f"AWSLogs/{ORG}/{B}/"]
    assert keys_of(o for o in listed if o not in unlisted) == [
        k for k in trail_keys() if f"/{B}/" not in k
    ]
    with pytest.raises(SourceReadError) as denied:
        src.read(unlisted[1])
    assert denied.value.reason == "cannot list folder (permission denied)"
    assert unlisted[1].uri == str(bucket_copy / "AWSLogs" / ORG / B) + os.sep
    # The source's own folder is another matter: nothing of it can be read.
    with pytest.raises(SourceError, match=r"cannot list folder: .*444455556666 \(permission"):
        list(LocalSource(bucket_copy / "AWSLogs" / ORG / B).iter_objects())


def test_local_source_pickles(bucket_copy: Path) -> None:
    src = open_source(str(bucket_copy))
    copy = pickle.loads(pickle.dumps(src))
    assert copy.uri == src.uri
    assert keys_of(copy.iter_objects()) == keys_of(src.iter_objects())


# -- opening -------------------------------------------------------------------------------


def test_missing_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as err:
        open_source("./x")
    assert err.value.message == "no such folder: ./x"
    assert err.value.hint


def test_folder_removed_after_opening(tmp_path: Path) -> None:
    src = open_source(str(make_tree(tmp_path / "gone", ["a.json"])))
    (tmp_path / "gone" / "a.json").unlink()
    (tmp_path / "gone").rmdir()
    with pytest.raises(SourceError, match="no such folder"):
        list(src.iter_objects())


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "logs", ["a.json"])
    monkeypatch.setenv("HOME", str(tmp_path))
    src = open_source("~/logs")
    assert isinstance(src, LocalSource)
    assert src.uri == str(tmp_path / "logs")
    assert keys_of(src.iter_objects()) == ["a.json"]


# -- the filter itself ---------------------------------------------------------------------


def test_list_filter_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ListFilter(since=datetime(2024, 6, 1))
    with pytest.raises(ValueError, match="after"):
        ListFilter(since=at(3), until=at(2))
    with pytest.raises(ValueError, match="margin"):
        ListFilter(margin_days=-1)
    flt = ListFilter(accounts=[A], kinds=["log"])  # type: ignore[arg-type]
    assert flt.accounts == frozenset({A}) and flt.kinds == frozenset({ObjectKind.LOG})


def test_day_range_uses_the_utc_day_and_the_margin() -> None:
    from datetime import timedelta, timezone

    tokyo = timezone(timedelta(hours=9))
    flt = ListFilter(since=datetime(2024, 6, 3, 2, tzinfo=tokyo), until=at(5), margin_days=2)
    # 02:00 in Tokyo is still June 2 in UTC; minus two days of margin: May 31.
    assert flt.first_day == date(2024, 5, 31) and flt.last_day == date(2024, 6, 7)
    assert flt.day_in_range(date(2024, 5, 31)) and not flt.day_in_range(date(2024, 5, 30))
    assert flt.day_in_range(date(2024, 6, 7)) and not flt.day_in_range(date(2024, 6, 8))
    assert ListFilter().day_in_range(date(1999, 1, 1))


def _fields(flt: ListFilter) -> dict[str, object]:
    names = ("since", "until", "accounts", "regions", "kinds", "margin_days")
    return {name: getattr(flt, name) for name in names}


def test_names_that_are_not_utf8_are_escaped_and_still_read(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    folder = os.fsdecode(b"d\xff")
    (root / folder).mkdir(parents=True)
    (root / folder / os.fsdecode(b"caf\xe9.json")).write_bytes(b"{}")
    (obj,) = LocalSource(root).iter_objects()
    assert obj.key == "d\\xff/caf\\xe9.json"
    assert obj.uri == str(root) + "/d\\xff/caf\\xe9.json"
    assert obj.path == str(root / folder / os.fsdecode(b"caf\xe9.json"))
    assert LocalSource(root).read(obj) == b"{}"
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_reading_stops_at_a_bound_only_for_a_file_that_passes_it(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "d", ["a.json"])
    src = LocalSource(root)
    (obj,) = src.iter_objects()
    (root / "a.json").write_bytes(b"x" * 100)  # grew after it was listed
    assert src.read(obj, max_bytes=101) == b"x" * 100
    assert src.read(obj, max_bytes=10) == b"x" * 10
