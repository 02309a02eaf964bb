"""A rubric whose params contradict themselves (a default its own type refuses, min above max) fails
`sentinel rubrics validate` naming the line and field: it used to pass (✓) and then refuse every evaluation and
job of the task with "param 'n' must be a whole number, got 'abc'"."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import SENTINEL, clean_env

RUBRIC = """id: poster
title: Poster
params:
  text: {{type: string, required: true}}
  {param}
criteria:
  - id: sharp
    must: The poster is not blurred.
    judge: pixels
    check: sharp
"""


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ('n: {type: integer, default: "abc"}', "params.n"),
        ('tint: {type: color, default: "#zzzzzz"}', "params.tint"),
        ("width: {type: integer, min: 100, max: 10}", "params.width"),
        ("width: {type: integer, default: 5000, max: 4096}", "params.width"),
        ("flag: {type: boolean, default: maybe}", "params.flag"),
    ],
)
def test_a_self_contradicting_param_fails_validation_naming_it(tmp_path, param, words) -> None:
    path = tmp_path / "poster.yaml"
    path.write_text(RUBRIC.format(param=param))
    ran = subprocess.run(
        [SENTINEL, "rubrics", "validate", str(path)],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stdout, ran.stderr)
    assert f"poster.yaml:5: {words}" in ran.stdout + ran.stderr, ran.stdout + ran.stderr


def test_the_shipped_rubrics_still_validate(tmp_path) -> None:
    from tests.conftest import REPO

    ran = subprocess.run(
        [SENTINEL, "rubrics", "validate", str(REPO / "rubrics")],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
