"""The direction of imports inside ``sentinel`` stays true: the parts form layers with no cycle between them, and
services know nothing of HTTP (the import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO

LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def test_import_contracts_are_kept() -> None:
    result = subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def _part(module: str) -> str | None:
    """The direct child of ``sentinel`` a module belongs to (``sentinel.jobs.service`` -> ``jobs``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _part_imports() -> dict[str, set[str]]:
    """Which parts of ``sentinel`` import which: imports inside functions count, those for type checkers do not."""
    graph = grimp.build_graph(
        "sentinel", include_external_packages=False, exclude_type_checking_imports=True, cache_dir=None
    )
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        importer = _part(module)
        for imported_module in graph.find_modules_directly_imported_by(module):
            imported = _part(imported_module)
            if importer and imported and importer != imported:
                edges.setdefault(importer, set()).add(imported)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one part (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(set(edges) | {b for targets in edges.values() for b in targets}):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []


def test_no_import_cycles_between_the_parts_of_sentinel() -> None:
    edges = _part_imports()
    assert len(edges) > 20, "the import graph has too few parts to mean anything"
    two_way = sorted(f"{a} <-> {b}" for a, targets in edges.items() for b in targets if a < b and a in edges.get(b, ()))
    cycles = _cycles(edges)
    assert not cycles, f"import cycles between parts of sentinel: {cycles}; parts importing each other: {two_way}"
