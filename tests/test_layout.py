"""The repository's layout shows its architecture: the fake providers and vision models are test doubles in
their own development package, ``sentinel_fakes``, and the service package ``sentinel`` neither holds nor uses them
(only its benchmarks start them, as processes of their own)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

SERVICE = REPO / "sentinel"
FAKES = REPO / "sentinel_fakes"
#: The benchmarks measure Sentinel against fake providers, so they are the one part of the service allowed to use them.
MAY_USE_FAKES = SERVICE / "bench"
#: Its former home inside the service package is covered by the test that the folder is gone.
FAKES_MODULES = ("sentinel_fakes",)


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in ``tree``, at any depth (imports inside functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # ``from sentinel import fakes`` names the package in its imported names.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _is_within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def _imports_of(files: list[Path], packages: tuple[str, ...]) -> list[str]:
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            if _is_within(module, packages):
                found.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return sorted(set(found))


def test_the_service_package_does_not_import_the_fakes() -> None:
    service_files = [path for path in SERVICE.rglob("*.py") if not path.is_relative_to(MAY_USE_FAKES)]
    assert len(service_files) > 50, "the scan found too few modules to mean anything"
    assert _imports_of(service_files, FAKES_MODULES) == []


def test_the_fakes_live_in_their_own_package_not_in_the_service() -> None:
    assert not (SERVICE / "fakes").exists(), "the fakes belong in sentinel_fakes/, not in the shipped package"
    assert (FAKES / "__init__.py").is_file()
    assert (FAKES / "__main__.py").is_file(), "benchmarks start a fake provider with `python -m sentinel_fakes`"


def test_the_fakes_share_no_code_with_the_service() -> None:
    # A fake that answered with Sentinel's own serialisation or parsing would hide exactly the bugs it is there to
    # catch: it must speak each provider's wire contract on its own.
    assert _imports_of(sorted(FAKES.rglob("*.py")), ("sentinel",)) == []


def test_no_test_folder_shadows_a_standard_module() -> None:
    """A helper the tests run as a script (tests/s3server.py) has tests/ first on its import path: a folder there
    named like a standard module (``http``) replaced it, and the helper died importing ``http.client``."""
    import sys

    shadowing = sorted(
        path.name for path in (REPO / "tests").iterdir() if path.is_dir() and path.name in sys.stdlib_module_names
    )
    assert shadowing == [], f"tests/ folders named like standard modules: {shadowing}"
