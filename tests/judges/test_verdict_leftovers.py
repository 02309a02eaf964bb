"""Verdict leftovers of the held-out probe (HP): a photo washed milky by a lifted black point fails exposure while a
foggy scene, a high-key look the prompt asks for and a white product on white do not; a banded product shot fails
the product rubric's banding criterion while a clean product on flat white never does; a prompt's count of panels
is checked against the panels drawn; a faint small grey stamp on a white product backdrop is a watermark."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.rubrics.loader import load_rubric
from sentinel.store.images import decoded_pixels
from tests.judges.test_pixel_contact_sheets import photo, sheet
from tests.judges.test_pixel_contact_sheets import tiling as sheet_tiling
from tests.judges.test_pixel_detectors import jpeg
from tests.judges.test_pixel_held_out_verdicts import RUBRICS, encode, judge, landscape, load_rubric_fix


def washed(scene: np.ndarray, gain: float, lift: float) -> bytes:
    return encode(np.clip(scene.astype(float) * gain + lift, 0, 255).astype(np.uint8))


# 1: washed out by a lifted black point ----------------------------------------------------------------------------


def test_a_photo_washed_milky_by_halved_contrast_lifted_to_mid_grey_fails_exposure() -> None:
    scene = landscape()
    outcome, severity = judge("exposure", washed(scene, 0.5, 128))
    assert not outcome.passed and "washed out" in outcome.detail, outcome.detail
    assert outcome.facts["too"] == "flat" and severity == "moderate"
    assert "restore full contrast" in load_rubric_fix("text-to-image", "exposure", outcome.facts)


def test_weaker_and_stronger_washes_fail_exposure_too() -> None:
    scene = landscape(seed=4)
    for gain, lift in ((0.6, 100), (0.5, 100), (0.4, 150), (0.5, 128)):
        outcome, severity = judge("exposure", washed(scene, gain, lift), prompt="rolling hills under a summer sky")
        assert not outcome.passed, (gain, lift, outcome.detail)
        assert severity in ("mild", "moderate"), (gain, lift, severity)


def test_a_foggy_scene_that_keeps_the_dark_of_its_near_ground_passes_exposure() -> None:
    scene = landscape().astype(float)
    # Fog thickens with distance: the far (upper) part of the frame fades to the fog's grey, the near ground keeps
    # its dark bushes and soil.
    rows = np.linspace(0.9, 0.05, scene.shape[0])[:, None, None]
    foggy = scene * (1 - rows) + 215 * rows
    outcome, _ = judge("exposure", encode(np.clip(foggy, 0, 255).astype(np.uint8)))
    assert outcome.passed, outcome.detail


def test_a_washed_look_the_prompt_asks_for_passes_exposure_naming_its_words() -> None:
    payload = washed(landscape(), 0.5, 128)
    for prompt, words in (
        ("rolling hills in thick morning fog", "fog"),
        ("a high-key photo of rolling hills", "high-key"),
        ("misty hills at dawn", "misty"),
    ):
        outcome, _ = judge("exposure", payload, prompt=prompt)
        assert outcome.passed and f"('{words}')" in outcome.detail, (prompt, outcome.detail)


# 2: banding in a product shot -------------------------------------------------------------------------------------


def product_shot(shadow_step: int = 0, surface_step: int = 0) -> np.ndarray:
    """A 1024² product shot: an amber box lit from the left, over a soft grey shadow fading into pure white; the
    shadow's or the box's gradient drawn in steps of ``shadow_step`` / ``surface_step`` levels when given."""
    yy, xx = np.mgrid[0:1024, 0:1024].astype(float)
    picture = np.full((1024, 1024, 3), 255.0)
    fade = np.clip(1 - np.hypot((xx - 512) / 420, (yy - 880) / 190), 0, 1)
    shade = fade * 70 + np.random.default_rng(2).normal(0, 1.0, fade.shape) * (fade > 0)
    if shadow_step:
        shade = np.floor(shade / shadow_step) * shadow_step
    picture -= shade[..., None]
    inside = (xx >= 300) & (xx <= 724) & (yy >= 150) & (yy <= 870)
    light = 90 + 120 * (xx - 300) / 424 + np.random.default_rng(3).normal(0, 1.0, xx.shape)
    if surface_step:
        light = np.floor(light / surface_step) * surface_step
    picture[inside] = np.stack([light, light * 0.75, light * 0.45], -1)[inside]
    return np.clip(picture, 0, 255).astype(np.uint8)


def product_criterion(criterion_id: str) -> tuple[str, dict[str, object]]:
    rubric = load_rubric(RUBRICS / "product-white-background.yaml")
    criterion = next(c for c in rubric.criteria if c.id == criterion_id)
    return criterion.check, dict(criterion.settings)


def judge_as_product(criterion_id: str, payload: bytes, **params: object) -> tuple[Outcome, str | None]:
    """A product-white-background criterion's pixels check, with the rubric's settings, on ``payload``."""
    name, settings = product_criterion(criterion_id)
    decoded_pixels.clear()
    mime = "image/jpeg" if payload.startswith(b"\xff\xd8") else "image/png"
    source = ImageSource(hashlib.sha256(payload).hexdigest(), mime, lambda: payload, 100_000_000)
    check = pixels.kind.checks[name]
    outcome = check.run(JudgeContext(image=source, params=dict(params)), check.settings_model(**settings))
    criterion = Criterion(id=criterion_id, must="The image is fine.", judge="pixels", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def test_a_product_shot_whose_soft_shadow_is_drawn_in_bands_fails_banding_mildly_or_moderately() -> None:
    for step, kind in ((8, "JPEG"), (8, "PNG"), (16, "JPEG"), (16, "PNG"), (4, "PNG")):
        outcome, severity = judge_as_product("no-banding", encode(product_shot(shadow_step=step), kind, 92))
        assert not outcome.passed and "shadow" in outcome.detail, (step, kind, outcome.detail)
        assert severity in ("mild", "moderate"), (step, kind, severity)


def test_a_product_shot_whose_surface_is_drawn_in_bands_fails_banding() -> None:
    for step in (8, 16):
        outcome, severity = judge_as_product("no-banding", encode(product_shot(surface_step=step), "JPEG", 92))
        assert not outcome.passed, (step, outcome.detail)
        assert severity in ("mild", "moderate"), (step, severity)


def test_clean_products_on_flat_white_pass_banding() -> None:
    # A smooth shot, and flat-coloured products with a few flat grey faces (few levels, evenly spaced or not).
    flat = Image.new("RGB", (1024, 1024), (255, 255, 255))
    draw = ImageDraw.Draw(flat)
    draw.rounded_rectangle((170, 110, 854, 914), 64, fill=(30, 90, 170))
    draw.ellipse((390, 330, 634, 574), fill=(240, 200, 40))
    greys = Image.new("RGB", (1024, 1024), (255, 255, 255))
    draw = ImageDraw.Draw(greys)
    for index, level in enumerate((200, 216, 232)):
        draw.rectangle((200 + index * 200, 200, 380 + index * 200, 860), fill=(level, level, level))
    for picture in (product_shot(), np.asarray(flat), np.asarray(greys)):
        for kind in ("JPEG", "PNG"):
            outcome, _ = judge_as_product("no-banding", encode(picture, kind, 92))
            assert outcome.passed, (kind, outcome.detail)


# 3: the count of panels a prompt asks for -------------------------------------------------------------------------

WRONG_COUNTS = [
    ("a 2x2 grid of four different portraits", 3, 1, 8),
    ("a 2x2 grid of four different portraits", 3, 3, 8),
    ("four panels showing the seasons", 3, 1, 12),
    ("a triptych, three views of a lighthouse", 2, 1, 8),
    ("a triptych, three views of a lighthouse", 2, 2, 8),
    ("3 panels side by side: a cat, a rocket and a coffee", 2, 1, 0),
    ("a diptych of a coffee cup and a cat", 3, 1, 8),
    ("a grid of six photos of cats", 2, 2, 8),
]


@pytest.mark.parametrize(
    ("prompt", "across", "down", "gutter"), WRONG_COUNTS, ids=[f"{p}-{a}x{d}" for p, a, d, _ in WRONG_COUNTS]
)
def test_a_picture_with_a_different_count_of_panels_than_asked_fails_moderately(
    prompt: str, across: int, down: int, gutter: int
) -> None:
    passed, severity, detail = sheet_tiling(jpeg(sheet(across, down, gutter=gutter), 90), prompt)
    assert not passed and severity == "moderate", detail
    assert "the prompt asks for" in detail


def test_one_single_picture_where_panels_are_asked_for_fails_moderately() -> None:
    one = photo(0, 1024, 1024)
    passed, severity, detail = sheet_tiling(jpeg(one, 90), "a triptych of a lighthouse at dawn, noon and dusk")
    assert not passed and severity == "moderate", detail
    assert "no separate panels" in detail


RIGHT_COUNTS = [
    ("a 2x2 grid of four different portraits", 2, 2, 8),
    ("four panels showing the seasons", 2, 2, 8),
    ("four panels showing the seasons", 4, 1, 8),
    ("a triptych, three views of a lighthouse", 3, 1, 0),
    ("3 panels side by side: a cat, a rocket and a coffee", 3, 1, 12),
    ("a grid of six photos of cats", 3, 2, 8),
    ("a 3x2 grid of pictures of the sea", 2, 3, 8),
]


@pytest.mark.parametrize(
    ("prompt", "across", "down", "gutter"), RIGHT_COUNTS, ids=[f"{p}-{a}x{d}" for p, a, d, _ in RIGHT_COUNTS]
)
def test_the_count_of_panels_asked_for_passes(prompt: str, across: int, down: int, gutter: int) -> None:
    passed, _, detail = sheet_tiling(jpeg(sheet(across, down, gutter=gutter), 90), prompt)
    assert passed and "as the prompt asks" in detail, detail


def test_the_guidance_for_a_wrong_count_asks_for_the_panels_the_prompt_named() -> None:
    outcome, _ = judge("tiling", encode(sheet(3, 1)), prompt="a 2x2 grid of four different portraits")
    guidance = load_rubric_fix("text-to-image", "no-tiling", outcome.facts)
    assert "exactly 4 panels (2×2)" in guidance and "3 panels side by side" in guidance, guidance
    assert "one continuous scene" not in guidance
