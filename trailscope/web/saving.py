""" "Add to dashboard": an Explore view written as a panel into a file of ``--dashboards DIR``.

A new dashboard becomes a new YAML file. A panel added to an existing YAML file whose panel
list ends the file is appended as text, so the user's comments and layout stay as they wrote
them; otherwise (JSON, or keys after ``panels``) the file is read and written back whole. The
file is replaced atomically (written aside, then renamed), and read back before the rename: a
write never leaves a broken dashboard behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from trailscope.errors import TrailscopeError
from trailscope.web.dashboards import SUFFIXES, DashboardFileError, load_file
from trailscope.web.explore import Spec

log = logging.getLogger(__name__)
_SLUG = re.compile(r"[^a-z0-9_-]+")


def panel_dict(spec: Spec, title: str, width: str = "half") -> dict[str, Any]:
    pid = _SLUG.sub("-", title.lower()).strip("-")[:40] or "view"
    own = spec.query_items()[: len(spec.query_items()) - len(spec.filters)]
    explore: dict[str, str | list[str]] = dict(own)
    for key, value in spec.filters:
        if key in explore:  # a repeated filter (any of these patterns) becomes a list
            before = explore[key]
            explore[key] = [*([before] if isinstance(before, str) else before), value]
        else:
            explore[key] = value
    return {"id": pid, "title": title, "width": width, "explore": explore}


def panel_yaml(spec: Spec, title: str | None = None) -> str:
    """The panel as YAML, ready to paste under a dashboard's ``panels:``."""
    panel = panel_dict(spec, title or spec.describe())
    return yaml.safe_dump([panel], sort_keys=False, allow_unicode=True)


def save_panel(folder: Path, target: str, spec: Spec, title: str, width: str) -> Path:
    """Add the panel to ``folder/<target>.yml`` (created if new); the file written."""
    name = _SLUG.sub("-", (target or "my-views").lower()).strip("-") or "my-views"
    if width not in ("full", "half"):
        width = "half"
    existing = next(
        (folder / f"{name}{s}" for s in SUFFIXES if (folder / f"{name}{s}").exists()), None
    )
    panel = panel_dict(spec, title, width)
    if existing is None:
        path = folder / f"{name}.yml"
        text = yaml.safe_dump(
            {
                "title": name.replace("-", " ").capitalize(),
                "description": "Views saved from Explore.",
                "panels": [panel],
            },
            sort_keys=False,
            allow_unicode=True,
        )
    else:
        path = existing
        text = _appended(path, panel)
    _replace(path, text)
    return path


def _appended(path: Path, panel: dict[str, Any]) -> str:
    old = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(old)
        ids = {p.get("id") for p in data.get("panels") or []}
        panel["id"] = _unique(panel["id"], ids)
        data.setdefault("panels", []).append(panel)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    data = yaml.safe_load(old) or {}
    ids = {p.get("id") for p in data.get("panels") or [] if isinstance(p, dict)}
    panel["id"] = _unique(panel["id"], ids)
    keys = list(data)
    if keys and keys[-1] == "panels" and isinstance(data["panels"], list):
        item = yaml.safe_dump([panel], sort_keys=False, allow_unicode=True)
        indent = _list_indent(old)
        block = "".join(indent + line + "\n" for line in item.splitlines())
        return old.rstrip("\n") + "\n" + block
    data.setdefault("panels", []).append(panel)
    log.info("rewriting %s whole to add a panel (its panels are not its last key)", path)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _list_indent(text: str) -> str:
    """How the file indents its panel list items ('  - id:' -> '  ')."""
    after = text.split("\npanels:", 1)[-1]
    m = re.search(r"\n([ ]*)- ", after)
    return m.group(1) if m else "  "


def _unique(pid: str, taken: set[Any]) -> str:
    candidate, n = pid, 2
    while candidate in taken:
        candidate, n = f"{pid}-{n}", n + 1
    return candidate


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".trailscope-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            load_file(Path(tmp), stem=path.stem)
        except DashboardFileError as exc:
            raise TrailscopeError(
                f"adding the panel would break {path.name}: {exc.problem}",
                hint="edit the file by hand; the YAML to paste is shown below",
            ) from None
        os.replace(tmp, path)
    except OSError as exc:
        raise TrailscopeError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="the server needs write access to its --dashboards folder",
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
