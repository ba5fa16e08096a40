"""The ``trailscope`` command: a thin shell over the library.

Each module of this package adds its own commands to the one ``app`` (see ``base``); they are
all imported by :func:`commands`, so a new command is a new module and nothing else changes.

They are imported when first needed, not with this package: the worker processes of an
ingest that the command starts import the command's script again (multiprocessing's spawn
does), and so this package; loading every command there cost each worker about 65 ms of
start-up (typer, rich and the commands' own imports).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trailscope.cli.base import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINED, app

# The order of the help listing: the main path first, then whatever else exists.
_FIRST = ("demo", "ingest", "query")
_FROM_BASE = frozenset({"EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "app"})

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "app", "commands", "main"]


@cache
def commands() -> ModuleType:
    """The module holding ``app``, with every command module imported into it (once: each
    name taken from this package asks for it)."""
    base = importlib.import_module(f"{__name__}.base")
    for name in sorted(
        (m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"),
        key=lambda n: (n not in _FIRST, _FIRST.index(n) if n in _FIRST else 0, n),
    ):
        importlib.import_module(f"{__name__}.{name}")
    return base


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        return getattr(commands(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    commands().app()


if __name__ == "__main__":
    main()
