"""runtime/ stands under both services: it imports amber only, and neither service reaches above or across."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).parents[2]
OURS = {"amber", "runtime", "loader", "exporter", "maintenance", "amber_home", "simulator"}


def imported_packages(package: str) -> dict[str, set[str]]:
    """{module path: our top-level packages it imports}, including imports inside functions."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names & OURS
    return found


def test_runtime_imports_amber_only() -> None:
    for module, packages in imported_packages("runtime").items():
        assert packages <= {"amber", "runtime"}, f"{module} imports {sorted(packages - {'amber', 'runtime'})}"


def test_the_exporter_imports_neither_the_loader_nor_the_command_layer() -> None:
    for module, packages in imported_packages("exporter").items():
        assert not packages & {"loader", "amber_home", "maintenance", "simulator"}, f"{module} imports {packages}"
