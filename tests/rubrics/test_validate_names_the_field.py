"""`sentinel rubrics validate` refuses what a rubric contradicts and names the line and field of it:
a criterion id used twice (it named line 1 and "(top level)"), a param both required and with a default (it passed,
and every evaluation was then refused for want of the param whose default was never used), ``mask_marks`` on a task
without a mask (passed silently), and NaN in settings or severity bands (refused with a message about a bound or an
order that NaN does not break, "must be ≥ 0", "'severe' (nan) must be lower than 'moderate' (nan)")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import SENTINEL, clean_env

HEAD = """id: poster
title: Poster
{extra}
criteria:
  - id: sharp
    must: The poster is not blurred.
    judge: pixels
    check: sharp
{criterion}
"""


def _validate(tmp_path: Path, text: str) -> str:
    path = tmp_path / "poster.yaml"
    path.write_text(text)
    ran = subprocess.run(
        [SENTINEL, "rubrics", "validate", str(path)],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stdout, ran.stderr)
    return ran.stdout + ran.stderr


def test_a_criterion_id_used_twice_names_the_second_ones_line_and_field(tmp_path: Path) -> None:
    second = "  - id: sharp\n    must: The poster is sharp.\n    judge: pixels\n    check: sharp"
    said = _validate(tmp_path, HEAD.format(extra="", criterion=second))
    assert "poster.yaml:9: criteria[1].id: criterion id 'sharp' is used twice" in said, said


def test_a_required_param_with_a_default_is_refused_naming_it(tmp_path: Path) -> None:
    params = 'params:\n  text: {type: string, required: true, default: "hi"}'
    said = _validate(tmp_path, HEAD.format(extra=params, criterion=""))
    assert "poster.yaml:4: params.text: a required param has a default" in said, said


def test_mask_marks_on_a_task_without_a_mask_is_refused_naming_it(tmp_path: Path) -> None:
    said = _validate(tmp_path, HEAD.format(extra="inputs: [image]\nmask_marks: keep", criterion=""))
    assert "poster.yaml:4: mask_marks: only a task with a 'mask' input uses mask_marks" in said, said


@pytest.mark.parametrize(
    ("criterion", "where"),
    [
        ("    settings: {min_sharpness: .nan}", "poster.yaml:9: criteria[0].settings.min_sharpness"),
        ("    severity: {moderate: .nan, severe: 10}", "poster.yaml:9: criteria[0].severity.moderate"),
        ("    severity: {moderate: 50, severe: -.inf}", "poster.yaml:9: criteria[0].severity.severe"),
    ],
)
def test_nan_is_refused_as_not_a_finite_number_naming_the_field(tmp_path: Path, criterion: str, where: str) -> None:
    said = _validate(tmp_path, HEAD.format(extra="", criterion=criterion))
    assert f"{where}: must be a finite number" in said, said


def test_a_misspelt_key_is_called_unknown_with_the_key_it_meant(tmp_path: Path) -> None:
    # Pydantic's "Extra inputs are not permitted" named no problem a rubric's author could see.
    shown = _validate(tmp_path, HEAD.format(extra="", criterion="    critcal: true"))
    assert "criteria[0].critcal: unknown key 'critcal'; did you mean 'critical'?" in shown, shown
    assert "known here: id, must, judge" in shown and "Extra inputs" not in shown
    top = _validate(tmp_path, HEAD.format(extra="inptus: [image]", criterion=""))
    assert "inptus: unknown key 'inptus'; did you mean 'inputs'?" in top, top
