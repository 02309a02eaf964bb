"""Held-out probe findings P1-F6 and P1-F7: a busy scene smeared by motion blur (any direction) fails ``sharp``
though its absolute detail score stays high, and a picture pasted onto its own mirror image (left-right, off-centre,
top-bottom) fails ``tiling``; sharp busy scenes, a sharp subject on a blurred ground, symmetric products on white
and prompts that ask for symmetry stay green."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.store.images import decoded_pixels


def png(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def judge(name: str, picture: np.ndarray, **params: object) -> tuple[Outcome, str | None]:
    payload = png(picture)
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), "image/png", lambda: payload, 100_000_000)
    check = pixels.kind.checks[name]
    outcome = check.run(JudgeContext(image=source, params=dict(params)), check.settings_model())
    criterion = Criterion(id="c", must="The image is fine.", judge="pixels", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def busy_scene(seed: int = 3, width: int = 768, height: int = 512) -> np.ndarray:
    """A street of shop fronts: hundreds of crisp coloured blocks, bars and discs of every size over a mid grey."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (110, 110, 110))
    draw = ImageDraw.Draw(image)
    for _ in range(420):
        x, y = int(rng.integers(-20, width)), int(rng.integers(-20, height))
        w, h = int(rng.integers(6, 90)), int(rng.integers(6, 90))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.3:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
    return np.asarray(image)


def motion_blur(picture: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1
    turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(picture, -1, kernel / kernel.sum())


@pytest.mark.parametrize("angle", [0, 45, 90, 135])
@pytest.mark.parametrize("length", [25, 41])
def test_a_busy_scene_smeared_by_motion_blur_in_any_direction_is_not_sharp(length: int, angle: int) -> None:
    smeared = motion_blur(busy_scene(), length, angle)
    outcome, severity = judge("sharp", smeared, prompt="a busy street of shops")
    assert not outcome.passed, outcome.detail
    assert severity in ("moderate", "severe")
    assert "edges fade" in outcome.detail and "needs ≥" in outcome.detail


def test_a_busy_scene_blurred_evenly_is_not_sharp_however_high_its_detail_score() -> None:
    blurred = cv2.GaussianBlur(busy_scene(seed=5), (0, 0), 6)
    outcome, severity = judge("sharp", blurred, prompt="a market")
    assert not outcome.passed and severity in ("moderate", "severe"), outcome.detail


def test_a_sharp_busy_scene_and_a_sharp_subject_on_a_blurred_ground_stay_sharp() -> None:
    scene = busy_scene(seed=11)
    assert judge("sharp", scene, prompt="a busy street")[0].passed
    # A portrait's bokeh: the whole ground blurred, a crisp subject in the middle third.
    bokeh = cv2.GaussianBlur(scene, (0, 0), 8)
    bokeh[130:400, 260:520] = busy_scene(seed=12)[130:400, 260:520]
    outcome, _ = judge("sharp", bokeh, prompt="a portrait")
    assert outcome.passed, outcome.detail


def test_motion_blur_the_prompt_asks_for_passes() -> None:
    smeared = motion_blur(busy_scene(), 25, 0)
    assert judge("sharp", smeared, prompt="a car racing past, motion blur")[0].passed


def mirror_left_right(picture: np.ndarray, axis: float) -> np.ndarray:
    out = picture.copy()
    column = int(picture.shape[1] * axis)
    reach = min(column, picture.shape[1] - column)
    out[:, column : column + reach] = picture[:, column - reach : column][:, ::-1]
    return out


@pytest.mark.parametrize("axis", [0.5, 0.6, 0.4])
def test_a_scene_pasted_onto_its_left_right_mirror_is_a_severe_tiling_fault(axis: float) -> None:
    outcome, severity = judge("tiling", mirror_left_right(busy_scene(seed=21), axis), prompt="a motorbike")
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "mirror images" in outcome.detail and f"{axis:.0%} of the width" in outcome.detail
    assert outcome.facts["layout"] == "mirror"


def test_a_top_bottom_mirror_fails_moderately_a_still_lake_is_for_a_person_to_judge() -> None:
    scene = busy_scene(seed=22)
    mirrored = scene.copy()
    mirrored[256:] = scene[:256][::-1]
    outcome, severity = judge("tiling", mirrored, prompt="a harbour")
    assert not outcome.passed and severity == "moderate", outcome.detail
    assert "above and below" in outcome.detail


def test_symmetric_products_natural_scenes_and_asked_symmetry_are_not_mirrors() -> None:
    assert judge("tiling", busy_scene(seed=23), prompt="a street")[0].passed
    # A symmetric bottle on white: symmetric by design, mostly plain.
    bottle = np.full((768, 768, 3), 255, np.uint8)
    cv2.rectangle(bottle, (324, 200), (444, 700), (40, 90, 160), -1)
    cv2.rectangle(bottle, (354, 100), (414, 200), (30, 30, 30), -1)
    cv2.putText(bottle, "OIL", (334, 480), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (250, 250, 250), 3)
    bottle[:, 384:] = bottle[:, :384][:, ::-1]
    assert judge("tiling", bottle, prompt="a bottle of oil")[0].passed
    mirrored = mirror_left_right(busy_scene(seed=24), 0.5)
    outcome, _ = judge("tiling", mirrored, prompt="a symmetrical mandala of coloured tiles")
    assert outcome.passed, outcome.detail
