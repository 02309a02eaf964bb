"""What the CLI prints from files, providers and errors is printed as written: square brackets in it are text,
not console markup (a validation error's pattern lost its character classes and told the user a rule nobody
can satisfy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import REPO, SENTINEL, clean_env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SENTINEL, *args], env=env or clean_env(), capture_output=True, text=True, timeout=120, cwd=REPO
    )


def test_a_rubric_ids_pattern_is_shown_whole(tmp_path: Path) -> None:
    rubric = tmp_path / "Bad_Name.yaml"
    rubric.write_text("id: Bad_Name\ntitle: x\ncriteria: []\n")
    done = run("rubrics", "validate", str(rubric))
    assert done.returncode != 0
    assert "^[a-z0-9][a-z0-9-]{0,62}$" in done.stderr, done.stderr


def test_an_error_with_a_closing_tag_in_it_is_printed_not_raised(tmp_path: Path) -> None:
    # "[/x]" is a closing tag with no opening one: as markup, printing it raised instead of naming the problem.
    done = run("rubrics", "validate", str(tmp_path / "no[/x]such.yaml"))
    assert done.returncode == 2, done.stderr
    assert "no[/x]such.yaml" in done.stderr and "Traceback" not in done.stderr


def test_a_rubrics_title_and_description_are_shown_as_written(tmp_path: Path) -> None:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "shelf.yaml").write_text(
        "id: shelf\ntitle: Shelf [bold]photo[/bold]\ndescription: Brand names like [ACME] stay.\n"
        "criteria:\n  - id: decodes\n    must: The image decodes.\n    judge: pixels\n    check: decodes\n"
    )
    env = clean_env(SENTINEL_RUBRICS_DIR=str(rubrics), SENTINEL_DATA_DIR=str(tmp_path / "data"))
    shown = run("rubrics", "show", "shelf", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Shelf [bold]photo[/bold]" in shown.stdout and "[ACME]" in shown.stdout
    listed = run("rubrics", "list", env=env | {"COLUMNS": "250"})
    assert listed.returncode == 0, listed.stderr
    assert "Shelf [bold]photo[/bold]" in listed.stdout
