"""An image thinner than any usable picture (a 4096×3 strip) fails the size criteria whether or not a size was
requested. The pixel checks pass what they cannot measure and leave it to the size criteria to fail; with no size
requested, a strip of noise used to come out green."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.evaluation.guidance import render_fix
from sentinel.evaluation.judges.base import JudgeContext
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.rubric import Rubric
from sentinel.evaluation.runner import run_panel
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from tests.judges.test_odd_shapes import encoded, noise, source_of

NO_SIZE = {"prompt": "a cup", "text": "OPEN", "color": "#ffffff"}


def judged(task: str, width: int, height: int, params: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]], Rubric]:
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get(task)
    image = source_of(encoded(noise(width, height)))
    panel = Panel.from_dir(DATA_ROOT / "judges")
    verdict, votes = run_panel(panel, rubric, lambda judge: JudgeContext(image=image, params=params), 1.0)
    return verdict.verdict, {c["id"]: c for v in votes for c in v.criteria}, rubric


@pytest.mark.parametrize(("width", "height"), [(4096, 3), (3, 4096), (2048, 15)])
def test_a_strip_is_red_when_no_size_was_requested(width: int, height: int) -> None:
    verdict, criteria, rubric = judged("text-to-image", width, height, NO_SIZE)
    assert verdict == "red"
    size = criteria["size"]
    assert not size["passed"]
    assert size["severity"] == "severe"
    assert f"{min(width, height)} px on its shorter side, under the 16 px" in size["detail"]
    fix = render_fix(next(c for c in rubric.criteria if c.id == "size"), size, NO_SIZE)
    assert fix == "Compose a complete picture at least 16 px on every side, filling the frame edge to edge."


def test_a_requested_size_still_names_its_frame_for_a_strip() -> None:
    params = NO_SIZE | {"width": 1024, "height": 1024}
    verdict, criteria, rubric = judged("text-to-image", 4096, 3, params)
    assert verdict == "red"
    fix = render_fix(next(c for c in rubric.criteria if c.id == "size"), criteria["size"], params)
    assert fix.startswith("Compose the picture for a 1024×1024 frame")


def test_min_size_fails_a_strip_however_long() -> None:
    _, criteria, rubric = judged("product-white-background", 4096, 3, NO_SIZE)
    min_size = criteria["min-size"]
    assert not min_size["passed"]
    assert "3 px on its shorter side" in min_size["detail"]
    fix = render_fix(next(c for c in rubric.criteria if c.id == "min-size"), min_size, NO_SIZE)
    assert fix == "Deliver the image at least 1000 px on its longest side and 16 px on its shorter side."


def test_a_long_banner_is_not_a_strip() -> None:
    _, criteria, _ = judged("text-to-image", 1600, 200, NO_SIZE)
    assert criteria["size"]["passed"], criteria["size"]["detail"]


def test_the_floor_is_a_setting() -> None:
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    document = rubric.model_dump(mode="json", exclude_none=True)
    for criterion in document["criteria"]:
        if criterion["id"] == "size":
            criterion["settings"] = {**criterion.get("settings", {}), "min_side": 2}
    relaxed = Rubric.model_validate(document)
    image = source_of(encoded(noise(4096, 3)))
    panel = Panel.from_dir(DATA_ROOT / "judges")
    _, votes = run_panel(panel, relaxed, lambda judge: JudgeContext(image=image, params=NO_SIZE), 1.0)
    size = next(c for v in votes for c in v.criteria if c["id"] == "size")
    assert size["passed"], size["detail"]
