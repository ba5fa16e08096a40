"""The import contracts in pyproject.toml hold (the layers point one way)."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports


def test_import_contracts_are_kept() -> None:
    here = os.getcwd()
    os.chdir(Path(__file__).resolve().parents[1])  # where pyproject.toml is
    try:
        assert lint_imports(no_cache=True) == 0
    finally:
        os.chdir(here)
