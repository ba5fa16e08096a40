"""Dashboards as data: YAML or JSON files, the built-in ones and the user's, in one format.

A dashboard file holds a title, a description and panels; each panel is Athena SQL over the
filter bar (``{where}``) or an Explore view (``explore:``, see :mod:`trailscope.web.explore`),
with a chart type and a width. The built-in dashboards are such files
(``trailscope/web/builtin_dashboards/``); ``trailscope serve --dashboards DIR`` adds the user's,
read again whenever they change. A file that cannot be read is kept as an error naming its file
and line, shown on its page, never a crash::

    title: My S3 view
    description: Who reads my buckets
    panels:
      - id: readers
        title: Top readers
        chart: bars
        sql: |
          SELECT {principal} AS label, count(*) AS n FROM cloudtrail
          WHERE {where} AND eventsource = 's3.amazonaws.com'
          GROUP BY 1 ORDER BY n DESC LIMIT 15
        drill: principal_is
      - id: buckets
        title: Buckets by identity type
        explore: {dim: requestparameters.bucketName, split: useridentity.type, chart: bar}

SQL panels and the columns each chart expects:

* ``stats``: one row; each column is a number tile (``tiles`` can make a tile a link).
* ``time``: ``t`` (bar start, epoch seconds; write ``{bucket}``), ``series``, ``n``: stacked bars.
* ``line`` / ``area``: ``t`` and ``value``.
* ``bars``, ``pie``, ``donut``: ``label`` and ``n`` (optional ``key``: the value to filter on).
* ``heatmap``: ``x``, ``y`` and ``n``.
* ``map``: ``label`` (a country's ISO code, as ip_info has it) and ``n``: a world view.
* ``table``: any columns; ``eventid`` links to the event, ``row_drill`` makes rows drill down.

``drill`` names the events filter a bar or series sets; ``filter`` holds the panel's own
conditions as events filters, added to each of its drill-down links, so a click shows exactly
the events behind the number, "(other)" included.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trailscope.errors import TrailscopeError
from trailscope.web.sqlwords import WORDS

if TYPE_CHECKING:
    from trailscope.web.explore import Spec

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "builtin_dashboards"
SQL_CHARTS = ("stats", "time", "line", "area", "bars", "pie", "donut", "heatmap", "map", "table")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([a-z0-9_-]+))?\}")
SUFFIXES = (".yml", ".yaml", ".json")


class DashboardFileError(TrailscopeError):
    """A dashboard file that cannot be used: which file, which line, what is wrong."""

    def __init__(self, file: Path | str, line: int | None, message: str) -> None:
        where = f"{file}" + (f", line {line}" if line else "")
        super().__init__(
            f"{where}: {message}", hint="fix the file; the page shows it again once saved"
        )
        self.file = str(file)
        self.line = line
        self.problem = message


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    chart: str  # one of SQL_CHARTS, or an Explore chart for ``explore`` panels
    sql: str = ""
    explore: dict[str, str | list[str]] | None = None
    drill: str | None = None  # events filter set from a bar's label/key or a series
    filter: dict[str, str] = field(default_factory=dict)  # the panel's own events filters
    row_drill: dict[str, str] = field(default_factory=dict)  # column -> events filter
    tiles: dict[str, dict[str, str]] = field(default_factory=dict)  # stat -> page settings
    note: str = ""
    wide: bool = False
    highlight: str | None = None  # a boolean column that marks a table row
    page_size: int = 0  # a table shown page by page (0: as the SQL limits it)
    line: int | None = None  # where it starts in its file


@dataclass(frozen=True)
class Option:
    """A dashboard setting chosen from a fixed list (never free text in the SQL)."""

    name: str
    label: str
    choices: dict[str, tuple[str, str]]  # value -> (SQL expression, drill key)
    labels: dict[str, str] = field(default_factory=dict)  # value -> what the select shows

    @property
    def default(self) -> str:
        return next(iter(self.choices))


@dataclass(frozen=True)
class ParamField:
    """A dashboard parameter typed by the user: always bound, never pasted."""

    name: str
    label: str
    type: str  # string | time | int | bool
    default: str | None = None
    placeholder: str = ""


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    options: tuple[Option, ...] = ()
    fields: tuple[ParamField, ...] = ()
    file: str = ""
    builtin: bool = True


# ---------------------------------------------------------------------- reading files


def _with_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    """A YAML node as Python values, noting the line where each value starts."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(yaml.safe_load(yaml.serialize(key_node)))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _with_lines(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_with_lines(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


class _Reader:
    """One file's values and the line of each, for errors that say where."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            context = getattr(exc, "context_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            if getattr(exc, "context", None):
                problem = f"{exc.context}: {problem}"  # type: ignore[attr-defined]
            if context is not None and (mark is None or mark.index >= len(text.rstrip())):
                mark = context  # the file ended inside something opened here: point there
            raise DashboardFileError(file, mark.line + 1 if mark else None, problem) from None
        if node is None:
            raise DashboardFileError(file, 1, "the file is empty")
        self.data = _with_lines(node, (), self.lines)

    def error(self, path: tuple[Any, ...], message: str) -> DashboardFileError:
        while path and path not in self.lines:
            path = path[:-1]
        return DashboardFileError(self.file, self.lines.get(path), message)

    def text(self, data: dict[str, Any], key: str, path: tuple[Any, ...], *, required: bool) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(path, f"'{key}' is missing")
            return ""
        if not isinstance(value, str | int | float):
            raise self.error((*path, key), f"'{key}' must be text")
        return str(value)

    def mapping(self, data: Any, path: tuple[Any, ...], what: str) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.error(path, f"{what} must be a mapping of names to values")
        return data


def load_file(path: Path, *, builtin: bool = False, stem: str | None = None) -> Dashboard:
    """Read one dashboard file (YAML or JSON); a :class:`DashboardFileError` if it is wrong.

    :param stem: the name to use when the file gives none (default: the file's own name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardFileError(path, None, f"cannot read the file: {exc}") from None
    r = _Reader(path, text)
    top = r.mapping(r.data, (), "a dashboard file")
    known = {"name", "title", "description", "panels", "options", "fields"}
    for key in top:
        if key not in known:
            raise r.error((key,), f"unknown key '{key}' (known: {', '.join(sorted(known))})")
    name = r.text(top, "name", (), required=False) or stem or path.stem
    if not _NAME.match(name):
        raise r.error(("name",), f"the name {name!r} must be lower-case letters, digits, - or _")
    options = tuple(_option(r, o, ("options", i)) for i, o in enumerate(top.get("options") or []))
    fields = tuple(_field(r, f, ("fields", i)) for i, f in enumerate(top.get("fields") or []))
    panels_data = top.get("panels")
    if not isinstance(panels_data, list) or not panels_data:
        raise r.error(("panels",), "'panels' must be a list with at least one panel")
    option_names = {o.name for o in options}
    panels = tuple(_panel(r, p, ("panels", i), option_names) for i, p in enumerate(panels_data))
    seen: set[str] = set()
    for i, p in enumerate(panels):
        if p.id in seen:
            raise r.error(("panels", i, "id"), f"two panels have the id {p.id!r}")
        seen.add(p.id)
    return Dashboard(
        name=name,
        title=r.text(top, "title", (), required=True),
        description=r.text(top, "description", (), required=False),
        panels=panels,
        options=options,
        fields=fields,
        file=str(path),
        builtin=builtin,
    )


def _panel(r: _Reader, data: Any, path: tuple[Any, ...], options: set[str]) -> Panel:
    from trailscope.web.drills import FIELDS, FLAGS
    from trailscope.web.explore import CHARTS as EXPLORE_CHARTS

    p = r.mapping(data, path, "a panel")
    known = {
        "id",
        "title",
        "chart",
        "sql",
        "explore",
        "drill",
        "filter",
        "row_drill",
        "tiles",
        "note",
        "width",
        "highlight",
        "page_size",
    }
    for key in p:
        if key not in known:
            raise r.error((*path, key), f"unknown panel key '{key}'")
    pid = r.text(p, "id", path, required=True)
    if not _NAME.match(pid):
        raise r.error((*path, "id"), f"the panel id {pid!r} must be lower-case letters, digits")
    sql = r.text(p, "sql", path, required=False)
    explore = p.get("explore")
    if bool(sql) == (explore is not None):
        raise r.error(path, "a panel has either 'sql' or 'explore' (one of them)")
    chart = r.text(p, "chart", path, required=False)
    spec: dict[str, str | list[str]] | None = None
    if explore is not None:
        raw = r.mapping(explore, (*path, "explore"), "'explore'")
        spec = {
            str(k): [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in raw.items()
        }
        if chart:
            spec["chart"] = chart
        try:
            chart = explore_spec(spec).chart
        except TrailscopeError as exc:
            raise r.error((*path, "explore"), exc.message) from None
        if chart not in EXPLORE_CHARTS:
            raise r.error((*path, "chart"), f"unknown chart {chart!r}")
    else:
        chart = chart or "table"
        if chart not in SQL_CHARTS:
            raise r.error(
                (*path, "chart"), f"unknown chart {chart!r} (one of {', '.join(SQL_CHARTS)})"
            )
        _check_placeholders(r, sql, (*path, "sql"), options)
    drills = set(FIELDS) | set(FLAGS) | {"source", "account", "region", "principal"}
    drill = r.text(p, "drill", path, required=False) or None
    if (
        drill
        and drill not in drills
        and not (drill.startswith("{") and drill[1:-1] in options)
        and not _is_dimension_filter(drill)
    ):
        raise r.error((*path, "drill"), f"unknown drill filter {drill!r}")
    fixed = {
        str(k): str(v) for k, v in r.mapping(p.get("filter"), (*path, "filter"), "'filter'").items()
    }
    for key in fixed:
        if key not in drills:
            raise r.error((*path, "filter", key), f"unknown events filter {key!r}")
    row_drill = {
        str(k): str(v)
        for k, v in r.mapping(p.get("row_drill"), (*path, "row_drill"), "'row_drill'").items()
    }
    for column, key in row_drill.items():
        if key not in drills:
            raise r.error((*path, "row_drill", column), f"unknown events filter {key!r}")
    tiles = {
        str(k): {str(a): str(b) for a, b in r.mapping(v, (*path, "tiles", k), "a tile").items()}
        for k, v in r.mapping(p.get("tiles"), (*path, "tiles"), "'tiles'").items()
    }
    width = r.text(p, "width", path, required=False) or (
        "full" if chart in ("stats", "time", "line", "area", "table", "heatmap") else "half"
    )
    if width not in ("full", "half"):
        raise r.error((*path, "width"), "'width' is full or half")
    page_size = p.get("page_size") or 0
    if not isinstance(page_size, int) or page_size < 0:
        raise r.error((*path, "page_size"), "'page_size' must be a whole number")
    return Panel(
        id=pid,
        title=r.text(p, "title", path, required=True),
        chart=chart,
        sql=sql,
        explore=spec,
        drill=drill,
        filter=fixed,
        row_drill=row_drill,
        tiles=tiles,
        note=r.text(p, "note", path, required=False),
        wide=width == "full",
        highlight=r.text(p, "highlight", path, required=False) or None,
        page_size=page_size,
        line=r.lines.get(path),
    )


def _check_placeholders(r: _Reader, sql: str, path: tuple[Any, ...], options: set[str]) -> None:
    from trailscope.queries import load_library

    for m in _PLACEHOLDER.finditer(sql):
        word, arg = m.group(1), m.group(2)
        if word == "saved":
            if arg not in load_library():
                raise r.error(path, f"no saved query named {arg!r} in {{saved:{arg}}}")
        elif arg is not None or (word not in WORDS and word != "where" and word not in options):
            known = ", ".join(sorted({"where", "saved:NAME", *WORDS, *options}))
            raise r.error(path, f"unknown placeholder {m.group(0)} (known: {known})")


def _option(r: _Reader, data: Any, path: tuple[Any, ...]) -> Option:
    o = r.mapping(data, path, "an option")
    choices, labels = {}, {}
    for value, spec in r.mapping(o.get("choices"), (*path, "choices"), "'choices'").items():
        where = (*path, "choices", value)
        c = r.mapping(spec, where, "a choice")
        sql = r.text(c, "sql", where, required=True)
        _check_placeholders(r, sql, where, set())
        choices[str(value)] = (sql, r.text(c, "drill", where, required=False))
        labels[str(value)] = r.text(c, "label", where, required=False) or str(value)
    if not choices:
        raise r.error(path, "an option needs at least one choice")
    name = r.text(o, "name", path, required=True)
    return Option(name, r.text(o, "label", path, required=True), choices, labels)


def _field(r: _Reader, data: Any, path: tuple[Any, ...]) -> ParamField:
    f = r.mapping(data, path, "a field")
    kind = r.text(f, "type", path, required=False) or "string"
    if kind not in ("string", "time", "int", "bool"):
        raise r.error((*path, "type"), f"unknown field type {kind!r}")
    return ParamField(
        name=r.text(f, "name", path, required=True),
        label=r.text(f, "label", path, required=True),
        type=kind,
        default=r.text(f, "default", path, required=False) or None,
        placeholder=r.text(f, "placeholder", path, required=False),
    )


# ---------------------------------------------------------------------- the registry


@dataclass
class Registry:
    """The dashboards a server shows: built-ins, then the user's folder (read again on change)."""

    builtin: dict[str, Dashboard]
    user_dir: Path | None = None
    user: dict[str, Dashboard] = field(default_factory=dict)
    errors: dict[str, DashboardFileError] = field(default_factory=dict)  # by page name
    _stamp: tuple[tuple[str, float, int], ...] = ()

    def refresh(self) -> None:
        """Read the user's folder again if any file in it changed."""
        if self.user_dir is None:
            return
        try:
            files = sorted(p for p in self.user_dir.iterdir() if p.suffix in SUFFIXES)
            stamp = tuple((p.name, p.stat().st_mtime, p.stat().st_size) for p in files)
        except OSError as exc:
            log.warning("cannot list the dashboards folder %s: %s", self.user_dir, exc)
            return
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self.user, self.errors = {}, {}
        for path in files:
            try:
                dash = load_file(path)
            except DashboardFileError as exc:
                self.errors[path.stem] = exc
                continue
            if dash.name in self.builtin or dash.name in self.user:
                self.errors[path.stem] = DashboardFileError(
                    path, 1, f"a dashboard named {dash.name!r} exists already: give it a 'name'"
                )
                continue
            self.user[dash.name] = dash

    def all(self) -> dict[str, Dashboard]:
        self.refresh()
        return {**self.builtin, **self.user}

    def get(self, name: str) -> Dashboard | None:
        return self.all().get(name)

    def error(self, name: str) -> DashboardFileError | None:
        self.refresh()
        return self.errors.get(name)


def load_builtin() -> dict[str, Dashboard]:
    order = ["overview", "logins", "errors", "identity", "security-groups", "console"]
    found = {p.stem: p for p in BUILTIN_DIR.iterdir() if p.suffix in SUFFIXES}
    names = [n for n in order if n in found] + sorted(set(found) - set(order))
    return {n: load_file(found[n], builtin=True) for n in names}


def load_registry(user_dir: str | os.PathLike[str] | None = None) -> Registry:
    """The built-in dashboards and, with ``user_dir``, the user's files."""
    folder = Path(user_dir) if user_dir else None
    if folder is not None and not folder.is_dir():
        raise TrailscopeError(
            f"no dashboards folder at {folder}",
            hint="create it, or give --dashboards a folder of .yml/.json files",
        )
    registry = Registry(load_builtin(), folder)
    registry.refresh()
    return registry


# ---------------------------------------------------------------------- SQL of a panel


def explore_spec(explore: dict[str, str | list[str]]) -> Spec:
    """An ``explore:`` mapping as an Explore view (a list value repeats its key)."""
    from trailscope.web.explore import Spec

    single = {k: v if isinstance(v, str) else (v[0] if v else "") for k, v in explore.items()}
    items = [(k, x) for k, v in explore.items() for x in ([v] if isinstance(v, str) else v)]
    return Spec.from_query(single, items)


def panel_sql(panel: Panel, choices: dict[str, str], dashboard: Dashboard, where: str) -> str:
    """The panel's Athena SQL with the filter's condition (``Filters.where``), the SQL words
    and the chosen options' expressions in place."""
    from trailscope.queries import load_library

    def replace(m: re.Match[str]) -> str:
        word, arg = m.group(1), m.group(2)
        if word == "where":
            return f"({where})"
        if word == "saved" and arg:
            return load_library()[arg].sql.strip().rstrip(";")
        for o in dashboard.options:
            if o.name == word:
                return o.choices[choices.get(o.name, o.default)][0]
        return WORDS.get(word, m.group(0))

    # twice: an option's SQL may itself use the SQL words
    return _PLACEHOLDER.sub(replace, _PLACEHOLDER.sub(replace, panel.sql))


def panel_filter(panel: Panel, choices: dict[str, str], dashboard: Dashboard) -> dict[str, str]:
    """The panel's own events filters, with option values (``{criterion}``) filled in."""
    out = {}
    for key, value in panel.filter.items():
        if value.startswith("{") and value.endswith("}"):
            option = next((o for o in dashboard.options if o.name == value[1:-1]), None)
            if option is not None:
                value = choices.get(option.name, option.default)
        out[key] = value
    return out


def drill_key(panel: Panel, choices: dict[str, str], dashboard: Dashboard) -> str | None:
    if panel.drill and panel.drill.startswith("{"):
        option = next(o for o in dashboard.options if "{" + o.name + "}" == panel.drill)
        return option.choices[choices.get(option.name, option.default)][1] or None
    return panel.drill


def _is_dimension_filter(key: str) -> bool:
    """``is.<dimension>`` (``is.country``): a drill filter on any Explore dimension."""
    from trailscope.web.fields import dimension

    op, dot, spec = key.partition(".")
    if op != "is" or not dot:
        return False
    try:
        dimension(spec)
    except TrailscopeError:
        return False
    return True
