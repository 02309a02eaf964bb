"""What docs/*.md name must exist, so a page copied from or followed by a newcomer does not send them to a setting,
file, function or part of the code that was renamed, or leave out one they need. tests/test_docs.py checks the
commands; this checks the names around them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

from sentinel.settings import Settings
from tests.conftest import REPO, clean_env

DOCS = sorted((REPO / "docs").glob("*.md"))
#: Paths the operations endpoints answer; deploy.md keeps them off the Ingress (or leaves them to probes).
OPS_PATHS = ("/metrics", "/healthz", "/readyz")


def doc_text() -> str:
    return "\n".join(page.read_text() for page in DOCS)


@cache
def code_text() -> str:
    return "\n".join(path.read_text() for path in (REPO / "sentinel").rglob("*.py"))


def test_every_documented_variable_is_read_by_sentinel() -> None:
    settings = {f"SENTINEL_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"SENTINEL_[A-Z0-9_]*[A-Z0-9]", doc_text()))
    # Not a setting, but read by name: a command's option (`envvar=`) or a developer tool.
    unknown = [name for name in sorted(named - settings) if f'"{name}"' not in code_text()]
    assert not unknown, f"docs/ name variables Sentinel never reads: {unknown}"


def test_every_documented_file_exists() -> None:
    paths = set(re.findall(r"`((?:sentinel|tests|scripts)/[\w/.-]+)`", doc_text()))
    assert paths, "the pattern no longer finds the docs' paths"
    missing = sorted(path for path in paths if not (REPO / path.rstrip("/")).exists())
    assert not missing, f"docs/ name files that do not exist: {missing}"


def methods_by_class() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / "sentinel").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = {item.name for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
                found.setdefault(node.name, set()).update(names)
    return found


def test_every_documented_method_exists() -> None:
    named = set(re.findall(r"`([A-Z]\w+)\.([a-z_]\w*)(?:\(\))?`", doc_text()))
    assert named, "the pattern no longer finds the docs' Class.method names"
    classes = methods_by_class()
    missing = sorted(f"{cls}.{method}" for cls, method in named if method not in classes.get(cls, set()))
    assert not missing, f"docs/ name methods that do not exist: {missing}"


def test_the_architecture_table_names_every_layered_part() -> None:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["type"] == "layers" and c.get("containers") == ["sentinel"]]
    parts = {part.strip() for layer in layers for part in layer.split("|")}
    page = (REPO / "docs" / "architecture.md").read_text()
    rows = [line.split("|") for line in page.splitlines() if line.startswith("| ") and "`" in line]
    tabled = {name for row in rows for name in re.findall(r"`(\w+)`", row[2])}
    assert parts - tabled == set(), "parts of the layers contract missing from docs/architecture.md's table"
    assert tabled - parts == set(), "parts in docs/architecture.md's table that the layers contract does not have"


def routes(tmp_path: Path) -> list[str]:
    """Every path the API app answers, read from the app the way `sentinel serve` builds it."""
    # The app's own routes, and those of every router of sentinel's that building it imported (FastAPI keeps included
    # routers' routes behind objects of its own, not in ``app.routes``).
    script = """
import sys
from fastapi import APIRouter
from sentinel.api.app import create_app
routes = list(create_app().routes)
routers = {id(m.router): m.router for n, m in list(sys.modules.items()) if n.startswith("sentinel.")
           and isinstance(getattr(m, "router", None), APIRouter)}
routes += [route for router in routers.values() for route in router.routes]
print("\\n".join(route.path for route in routes if hasattr(route, "path")))
"""
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    listed = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def test_the_documented_ingress_reaches_every_page(tmp_path: Path) -> None:
    page = (REPO / "docs" / "deploy.md").read_text()
    # Up to "not `/metrics`": the paths it names hold dots (/openapi.json), so the sentence's full stop cannot end it.
    [sentence] = re.findall(r"an Ingress for (.*?)\(?(?:but )?not `/metrics`", page.replace("\n", " "))
    prefixes = re.findall(r"`(/[\w.]+)`", sentence)
    unreached = [
        path
        for path in routes(tmp_path)
        if not path.startswith(OPS_PATHS) and not any(path == p or path.startswith(p + "/") for p in prefixes)
    ]
    assert not unreached, f"deploy.md's Ingress leaves out paths the app serves: {unreached}"


def test_deploy_md_lists_every_metric_the_service_exports() -> None:
    from prometheus_client import REGISTRY

    import sentinel.ops.metrics as queue_metrics
    import sentinel.telemetry.metrics  # noqa: F401  (registers the counters and histograms)

    exported = {m.name.removeprefix("sentinel_") for m in REGISTRY.collect() if m.name.startswith("sentinel_")}
    exported.add(queue_metrics.QueueDepth.NAME.removeprefix("sentinel_"))
    page = (REPO / "docs" / "deploy.md").read_text()
    table = page[page.index("Metrics (all prefixed `sentinel_`)") :]
    missing = sorted(name for name in exported if f"`{name}" not in table.split("\n\n", 2)[1])
    assert not missing, f"deploy.md's metrics table leaves out {missing}"


def test_readme_task_table_shows_each_tasks_params() -> None:
    from sentinel.wiring import get_services

    readme = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| ([^|]+) \|$", readme, flags=re.M))
    for rubric in get_services().rubrics.all():
        if rubric.id not in rows:
            continue
        shown = re.findall(r"`([a-z_]+)`", rows[rubric.id])
        assert shown == list(rubric.params), f"README's row for {rubric.id} shows {shown}, not {list(rubric.params)}"
