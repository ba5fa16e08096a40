"""The ``trailscope`` command: a thin shell over the library.

Each module of this package adds its own commands to the one ``app`` (see ``base``); they are
all imported here, so a new command is a new module and nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from trailscope.cli.base import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINED, app

# The order of the help listing: the main path first, then whatever else exists.
_FIRST = ("demo", "ingest", "query")

for _name in sorted(
    (m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"),
    key=lambda n: (n not in _FIRST, _FIRST.index(n) if n in _FIRST else 0, n),
):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
