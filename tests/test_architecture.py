"""The import boundaries hold (README "Architecture", issue 11): `lint-imports` checks the contracts of
pyproject.toml's [tool.importlinter] against the tree, and the same contracts fail on a copy of the tree
with one forbidden import added, so the check is known to bite.

    amber_home → maintenance → loader | exporter → runtime → amber;  only amber_home imports simulator
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Installed by `uv sync` beside the interpreter running the tests (not resolved: the venv's bin/ is wanted).
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def contract_name(contract_id: str) -> str:
    return next(c["name"] for c in contracts()["contracts"] if c["id"] == contract_id)


def lint_imports(where: Path) -> tuple[int, str]:
    """Runs lint-imports in `where` (it reads pyproject.toml there and finds the packages there); returns
    the exit status and the output with whitespace collapsed (it wraps long contract names)."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=where, capture_output=True, text=True, timeout=300,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def test_the_tree_keeps_every_import_contract():
    status, output = lint_imports(ROOT)
    assert status == 0, output


def test_a_forbidden_import_breaks_the_contract_it_crosses(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in contracts()["root_packages"]:
        if (ROOT / package).is_dir():  # a missing one is lint-imports' error to report, below
            shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "exporter" / "crosses_over.py").write_text('"""The exporter reaching into the loader."""\n\nimport loader\n')

    status, output = lint_imports(tmp_path)

    assert status != 0, output
    assert f"{contract_name('services-independent')} BROKEN" in output, output
    assert "exporter.crosses_over -> loader" in output, output
