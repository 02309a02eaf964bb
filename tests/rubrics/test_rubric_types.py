"""A rubric's numbers and flags are taken as YAML writes them (outside probe H8 F3): ``min_sharpness: true`` became
the number 1 (a check that nearly never fails) and ``critical: 'yes'`` a flag, and the rubric validated. An unknown
setting names the check's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sentinel.errors import ConfigError
from sentinel.rubrics.loader import load_rubric

ROOT = Path(__file__).resolve().parents[2]


def written(tmp_path: Path, change) -> Path:
    rubric = yaml.safe_load((ROOT / "rubrics" / "text-render.yaml").read_text())
    change(rubric)
    path = tmp_path / "text-render.yaml"
    path.write_text(yaml.safe_dump(rubric))
    return path


def sharp(rubric: dict) -> dict:
    return next(c for c in rubric["criteria"] if c.get("check") == "sharp")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: sharp(r).update(settings={"min_sharpness": True}), "min_sharpness: must be a number, not True"),
        (lambda r: sharp(r).update(settings={"min_sharpness": "15"}), "min_sharpness: must be a number, not '15'"),
        (lambda r: r["criteria"][0].update(critical="yes"), "critical: Input should be a valid boolean"),
        (lambda r: r.update(escalate=1), "escalate: Input should be a valid boolean"),
        (
            lambda r: sharp(r).update(settings={"min_sharpnes": 15}),
            "check 'sharp' has no setting 'min_sharpnes'; its settings are: prompt_param, min_sharpness",
        ),
    ],
)
def test_a_setting_or_flag_of_the_wrong_type_is_refused_naming_the_line(tmp_path, change, words) -> None:
    with pytest.raises(ConfigError) as refused:
        load_rubric(written(tmp_path, change))
    assert words in str(refused.value) and "text-render.yaml:" in str(refused.value), str(refused.value)


def test_numbers_written_as_integers_still_fill_number_settings(tmp_path) -> None:
    rubric = load_rubric(written(tmp_path, lambda r: sharp(r).update(settings={"min_sharpness": 15})))
    assert rubric.id == "text-render"
