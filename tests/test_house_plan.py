"""The house plan is a check: `lint-imports` keeps every import arrow pointing one way.

The contracts live in `pyproject.toml` (`[tool.importlinter]`): the roof (CLI, benchmarks,
demo, daily run) over the simulator, over the stages in pipeline order, over the ground floor
(`slotrec.core`). These tests run the real linter on the repository, and on a copy where one
module breaks the plan, to show the check would catch it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slotrec.core.settings import REPO_ROOT

PACKAGES = ("slotrec", "feature_repo", "training", "bentos", "monitoring", "benchmarks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_repository_keeps_its_house_plan():
    result = _lint(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages' Python files and the linter's configuration, outside the repository."""
    root = tmp_path_factory.mktemp("plan")
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, root / package, ignore=_not_python)
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _not_python(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()]


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [
        ("training/evaluate.py", "slotrec.daily", "One way down"),  # a stage importing the roof
        ("bentos/snapshot.py", "slotrec.simulator", "One way down"),  # ... or the simulator
        ("slotrec/core/schema.py", "feature_repo", "One way down"),  # the ground floor a stage
        ("slotrec/simulator/world.py", "training.metrics", "The simulator is a test fixture"),
    ],
)
def test_an_arrow_the_wrong_way_breaks_the_plan(copy, module, imported, contract):
    path = copy / module
    original = path.read_text()
    try:
        path.write_text(original + f"\nimport {imported}  # the wrong way\n")
        result = _lint(copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout[-2000:]
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
    assert imported in result.stdout


def _cycles(graph) -> list[list[str]]:
    """The import cycles of `graph` (strongly connected groups of more than one module)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle():
    """Layers point one way between packages; inside a package no two modules need each other.

    grimp (import-linter's graph) sees imports inside functions too, so a circle hidden behind a
    late import (as `bentos.catalog` and `bentos.recommender.filters` once were) counts.
    """
    import grimp

    graph = grimp.build_graph(
        "slotrec", "feature_repo", "training", "bentos", "monitoring", "benchmarks"
    )
    assert _cycles(graph) == []
    # the check itself finds a circle where there is one
    graph.add_import(importer="bentos.recommender.filters", imported="bentos.catalog")
    graph.add_import(importer="bentos.catalog", imported="bentos.recommender.filters")
    assert ["bentos.catalog", "bentos.recommender.filters"] in _cycles(graph)
