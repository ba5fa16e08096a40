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


def test_no_module_imports_itself_through_others() -> None:
    """Zero import cycles between modules (a package's own ``__init__`` re-exporting its
    modules is not a cycle: Python loads it first), apart from the imports the contracts
    name as deliberate exceptions."""
    import tomllib

    import grimp

    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    allowed = {
        tuple(part.strip() for part in line.split("->"))
        for contract in config["tool"]["importlinter"]["contracts"]
        for line in contract.get("ignore_imports", [])
    }

    # imports made only for type checking never run, so they cannot form a cycle
    graph = grimp.build_graph("trailscope", exclude_type_checking_imports=True)
    packages = {m for m in graph.modules if any(o.startswith(m + ".") for o in graph.modules)}

    def imports(module: str) -> set[str]:
        return {
            target
            for target in graph.find_modules_directly_imported_by(module)
            if not (target in packages and module.startswith(target + "."))
            and (module, target) not in allowed
        }

    edges = {module: imports(module) for module in graph.modules}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == [], " -> ".join(cycles[0])
