"""Saved queries are data: one ``.sql`` file each, Athena SQL under a small comment header.

    -- title: Failed console logins
    -- description: Sign-in failures judged by responseElements.ConsoleLogin = 'Failure'.
    -- param: since time 24h  Only events from this time on
    -- param: user string -   Only this IAM user (optional)
    -- chart: bar x=username y=failures
    SELECT ... WHERE eventtime >= :since AND (:user IS NULL OR useridentity.username = :user)

A parameter line is ``name type default description``; ``-`` as default means optional (NULL
when not given), no default at all means required. Types: ``time`` (a date, an ISO time or an
age such as ``24h``; bound as the ISO string ``YYYY-MM-DDTHH:MM:SSZ`` that compares correctly
with ``eventtime``), ``string``, ``int``. Values are always bound as parameters, never pasted
into the SQL. The file name is the query's name. The same files run on every engine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trailscope.errors import TrailscopeError
from trailscope.timeparse import parse_time

LIBRARY_DIR = Path(__file__).parent / "library"
_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.*)$")
_TYPES = ("time", "string", "int")


class SavedQueryError(TrailscopeError):
    """An unknown saved query, a bad parameter, or a malformed query file."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None  # None: required; "-": optional (NULL)
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class SavedQuery:
    name: str
    title: str
    description: str
    sql: str
    params: tuple[Param, ...] = ()
    chart: str | None = None
    path: Path | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def bind(self, values: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
        """Validate and convert user-given values (strings from a CLI or a form)."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SavedQueryError(
                f"query {self.name!r} has no parameter {unknown[0]!r}",
                hint="its parameters: " + (", ".join(known) or "none"),
            )
        bound: dict[str, Any] = {}
        for p in self.params:
            raw = values.get(p.name)
            if raw is None or raw == "":
                if p.required:
                    raise SavedQueryError(
                        f"query {self.name!r} needs --param {p.name}=VALUE ({p.type})",
                        hint=p.description or None,
                    )
                raw = None if p.default == "-" else p.default
            bound[p.name] = _convert(self.name, p, raw, now)
        return bound


def _convert(query: str, p: Param, raw: Any, now: datetime | None) -> Any:
    if raw is None:
        return None
    if p.type == "time":
        if isinstance(raw, datetime):
            when = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        else:
            when = parse_time(str(raw), now=now, end_of_day=p.name in ("until", "end"))
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if p.type == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SavedQueryError(
                f"parameter {p.name} of {query!r} must be a whole number, not {raw!r}"
            ) from None
    return str(raw)


def parse_query_file(path: Path) -> SavedQuery:
    """Read one saved query; errors name the file and line."""
    meta: dict[str, str] = {}
    params: list[Param] = []
    body: list[str] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = _HEADER.match(line.strip()) if not body else None
        if m:
            key, value = m.group(1).lower(), m.group(2).strip()
            if key == "param":
                params.append(_parse_param(path, lineno, value))
            else:
                meta[key] = value
        elif body or line.strip():
            body.append(line)
    sql = "\n".join(body).strip()
    if not sql:
        raise SavedQueryError(f"{path}: no SQL after the header")
    if "title" not in meta:
        raise SavedQueryError(f"{path}: missing '-- title:' line")
    return SavedQuery(
        name=path.stem,
        title=meta.pop("title"),
        description=meta.pop("description", ""),
        sql=sql,
        params=tuple(params),
        chart=meta.pop("chart", None),
        path=path,
        meta=meta,
    )


def _parse_param(path: Path, lineno: int, spec: str) -> Param:
    parts = spec.split(None, 3)
    if len(parts) < 2 or parts[1] not in _TYPES:
        raise SavedQueryError(
            f"{path}:{lineno}: bad parameter line {spec!r}",
            hint=f"write: -- param: NAME TYPE [DEFAULT [DESCRIPTION]] with TYPE one of {_TYPES}",
        )
    name, typ = parts[0], parts[1]
    default = parts[2] if len(parts) > 2 else None
    return Param(name, typ, default, parts[3] if len(parts) > 3 else "")


def load_library(extra_dirs: list[Path] | None = None) -> dict[str, SavedQuery]:
    """The bundled queries, then the user's folders (a user's file overrides by name)."""
    out: dict[str, SavedQuery] = {}
    for folder in [LIBRARY_DIR, *(extra_dirs or [])]:
        for path in sorted(folder.glob("*.sql")):
            q = parse_query_file(path)
            out[q.name] = q
    return out


def get_query(name: str, library: dict[str, SavedQuery] | None = None) -> SavedQuery:
    lib = library if library is not None else load_library()
    if name in lib:
        return lib[name]
    close = difflib.get_close_matches(name, list(lib), n=1, cutoff=0.5)
    raise SavedQueryError(
        f"no saved query named {name!r}",
        hint=(f"did you mean {close[0]}? " if close else "") + "see 'trailscope queries list'",
    )
