"""A folder (or one file) on disk: a synced copy of a trail bucket, or exported event files.

A synced bucket can hold years of day folders, so the walk decides from each folder's place in
the layout whether to enter it at all: excluded accounts, regions and days are never listed and
their files never stat'ed.

Nothing found on the way stops the walk: a sub-folder that cannot be listed and a symbolic link
whose target is missing are handed on as objects whose reading fails with the reason, so a run
quarantines them by name (and tries them again the next time). Names that are not valid UTF-8
are shown with the odd bytes escaped (``caf\\xe9.json``), which is also how the lake keys them.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from trailscope.errors import SourceError, SourceReadError
from trailscope.sources.base import NO_FILTER, ListFilter, SourceObject
from trailscope.sources.layout import (
    AWSLOGS,
    KeyInfo,
    Level,
    ObjectKind,
    Position,
    classify_key,
    locate,
)

_MISSING_HINT = "check the path; S3 locations are written s3://BUCKET/PREFIX"
#: The version of an object that could not be looked at: never current, so tried each run.
UNLISTED = "unlisted"
#: The version of a file whose size and time could not be read (its reading says why).
UNREADABLE = "unreadable"

log = logging.getLogger(__name__)


class LocalSource:
    """Objects under a local folder; keys are POSIX paths relative to it."""

    has_metadata = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(Path(root).expanduser()))
        self.uri = display_path(str(self.root))

    @classmethod
    def from_user_path(cls, path: str) -> LocalSource:
        """Check the path now, so a typo fails before any work starts, in the user's words."""
        source = cls(path)
        try:
            mode = os.stat(source.root).st_mode
        except FileNotFoundError:
            raise SourceError(f"no such folder: {path}", hint=_MISSING_HINT) from None
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from None
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise SourceError(f"not a folder or a regular file: {path}", hint=_MISSING_HINT)
        return source

    def __repr__(self) -> str:
        return f"LocalSource({self.uri!r})"

    def iter_objects(self, flt: ListFilter = NO_FILTER) -> Iterator[SourceObject]:
        try:
            root_stat = os.stat(self.root)
        except FileNotFoundError:
            raise SourceError(f"no such folder: {self.uri}", hint=_MISSING_HINT) from None
        except OSError as exc:
            raise SourceError(f"cannot open {self.uri}: {exc.strerror or exc}") from None
        if stat.S_ISREG(root_stat.st_mode):
            yield from self._single_file(flt, root_stat)
            return
        walk = _Walk(self.root, flt, root_stat)
        yield from walk.run()

    def read(self, obj: SourceObject, max_bytes: int | None = None) -> bytes:
        """The file's bytes, at most ``max_bytes`` of them (read no further: a file that grew
        past a limit after it was listed costs no more than the limit)."""
        path = obj.path or obj.uri
        if obj.version == UNLISTED:
            raise SourceReadError(obj.uri, _unlisted_reason(path.rstrip(os.sep)))
        try:
            with open(path, "rb") as handle:
                # read(n) allocates n bytes up front: asked only of a file already too large.
                if max_bytes is None or os.fstat(handle.fileno()).st_size < max_bytes:
                    return handle.read()
                return handle.read(max_bytes)
        except FileNotFoundError:
            reason = "broken symbolic link" if os.path.islink(path) else "file vanished"
            raise SourceReadError(obj.uri, reason) from None
        except PermissionError:
            raise SourceReadError(obj.uri, "permission denied") from None
        except OSError as exc:
            raise SourceReadError(obj.uri, exc.strerror or str(exc)) from None

    def read_metadata(self, obj: SourceObject) -> dict[str, str]:
        """Local files carry no user metadata (digest signatures only exist on S3)."""
        return {}

    def _single_file(self, flt: ListFilter, st: os.stat_result) -> Iterator[SourceObject]:
        context = _layout_context(self.root.parent.parts)
        name = display_path(self.root.name)
        info = classify_key(context + name)
        if flt.wants(info):
            yield _object(name, str(self.root), st.st_size, _version(st), info)


class _Walk:
    """One listing pass; holds what recursion needs so the functions stay small."""

    def __init__(self, root: Path, flt: ListFilter, root_stat: os.stat_result) -> None:
        self.root = root
        self.flt = flt
        self.seen_dirs = {(root_stat.st_dev, root_stat.st_ino)}
        # Keys are relative to the root, but their meaning may come from folders above it.
        self.context = _layout_context(root.parts)

    def run(self) -> Iterator[SourceObject]:
        pos = locate(self.root.parts)
        if pos is not None and pos.level is not Level.FOREIGN:
            if self.flt.may_contain(pos):
                yield from self._layout(str(self.root), "", pos)
        elif pos is None and (self.root / AWSLOGS).is_dir():
            # A copy of a whole bucket: only its CloudTrail tree is of interest.
            awslogs = self.root / AWSLOGS
            if self._first_visit(os.stat(awslogs)):
                yield from self._layout(str(awslogs), AWSLOGS + "/", Position(Level.AWSLOGS))
        else:
            yield from self._flat(str(self.root), "")

    def _layout(self, path: str, rel: str, pos: Position) -> Iterator[SourceObject]:
        entries = self._scan(path, rel)
        if entries is None:
            yield self._unlisted(path, rel)
            return
        for is_dir, entry in entries:
            if not is_dir:
                yield from self._file(entry, rel + entry.name)
                continue
            child = pos.child(entry.name)
            if not self.flt.may_contain(child):
                continue
            sub = f"{rel}{entry.name}/"
            enter = self._enter(entry)
            if enter is None:
                yield self._unlisted(entry.path, sub)
            elif enter:
                yield from self._layout(entry.path, sub, child)

    def _flat(self, path: str, rel: str) -> Iterator[SourceObject]:
        entries = self._scan(path, rel)
        if entries is None:
            yield self._unlisted(path, rel)
            return
        for is_dir, entry in entries:
            if not is_dir:
                yield from self._file(entry, rel + entry.name)
                continue
            sub = f"{rel}{entry.name}/"
            enter = self._enter(entry)
            if enter is None:
                yield self._unlisted(entry.path, sub)
            elif enter:
                yield from self._flat(entry.path, sub)

    def _file(self, entry: os.DirEntry[str], key: str) -> Iterator[SourceObject]:
        key = display_path(key)
        info = classify_key(self.context + key)
        if not self.flt.wants(info):
            return
        try:
            st = entry.stat()  # follows symlinks: a linked file is read through the link
        except FileNotFoundError:
            if _is_link(entry):  # its target is missing: reading says so
                yield _object(key, entry.path, 0, UNREADABLE, info)
            return  # else it vanished since the scan: nothing to read
        except OSError:  # a link that loops, a folder without search permission...
            yield _object(key, entry.path, 0, UNREADABLE, info)
            return
        if stat.S_ISREG(st.st_mode):
            yield _object(key, entry.path, st.st_size, _version(st), info)

    def _scan(self, path: str, rel: str) -> list[tuple[bool, os.DirEntry[str]]] | None:
        """A folder's entries, or None when a sub-folder cannot be listed (the root folder
        that cannot be listed is an error: nothing of the source could be read)."""
        try:
            return _scan(path)
        except SourceError:
            if not rel:
                raise
            log.warning("skipping a folder that cannot be listed: %s", display_path(path))
            return None

    def _unlisted(self, path: str, rel: str) -> SourceObject:
        """A folder that could not be listed, as an object whose reading says why: the run
        quarantines it by name instead of stopping, and the next run lists it again."""
        info = KeyInfo(ObjectKind.LOG)  # outside any account: verify has nothing to say of it
        return _object(display_path(rel), path + os.sep, 0, UNLISTED, info)

    def _enter(self, entry: os.DirEntry[str]) -> bool | None:
        """Whether to walk a sub-folder: not twice, not once it vanished; None when it
        cannot even be looked at (then it is reported)."""
        try:
            st = entry.stat()
        except FileNotFoundError:
            return False
        except OSError:
            return None
        return self._first_visit(st)

    def _first_visit(self, st: os.stat_result) -> bool:
        """Symlinked folders may loop or repeat; each real folder is walked once."""
        ident = (st.st_dev, st.st_ino)
        if ident in self.seen_dirs:
            return False
        self.seen_dirs.add(ident)
        return True


def _scan(path: str) -> list[tuple[bool, os.DirEntry[str]]]:
    """A folder's entries in key order: folders sort as ``name/`` so keys come out sorted."""
    try:
        with os.scandir(path) as it:
            entries = [(_is_dir(e), e) for e in it]
    except FileNotFoundError:
        return []  # removed while we walked: nothing left to list
    except PermissionError:
        raise SourceError(
            f"cannot list folder: {path} (permission denied)",
            hint="give the user running trailscope read access, or point at a sub-folder",
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot list folder: {path} ({exc.strerror or exc})") from None
    entries.sort(key=lambda item: item[1].name + "/" if item[0] else item[1].name)
    return entries


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _layout_context(parts: tuple[str, ...]) -> str:
    """The path from the innermost ``AWSLogs`` folder down to here, to classify relative keys.

    Only that part is used, so folders far above (a hidden home folder, say) don't leak in.
    """
    if AWSLOGS not in parts:
        return ""
    start = len(parts) - 1 - parts[::-1].index(AWSLOGS)
    return "/".join(parts[start:]) + "/"


def _version(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_size}"


def display_path(path: str) -> str:
    """A path as text that can be shown and stored anywhere: bytes of a name that are not
    UTF-8 (kept by Python as lone surrogates) are written as ``\\xNN``."""
    if path.isascii():
        return path
    try:
        path.encode()
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path


def _object(key: str, path: str, size: int, version: str, info: KeyInfo) -> SourceObject:
    """A listed file; its real path is kept apart only when the name had to be escaped."""
    uri = display_path(path)
    return SourceObject(key, uri, size, version, info, None if uri == path else path)


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _unlisted_reason(path: str) -> str:
    """Why a folder could not be listed, asked again now."""
    try:
        with os.scandir(path):
            pass
    except FileNotFoundError:
        return "folder vanished"
    except PermissionError:
        return "cannot list folder (permission denied)"
    except OSError as exc:
        return f"cannot list folder ({exc.strerror or exc})"
    return "could not be listed when the run started; the next run reads it"
