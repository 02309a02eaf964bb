"""A colour the prompt asks for a backdrop ("a red shoe on a blue background") excuses that backdrop only: a cast of
the same colour that also tints the subject in front of it (the shoe's white leather and sole) still fails. A colour
asked for the whole frame (a blue gradient wallpaper with rings, nothing in front of it) still passes as asked."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.evaluation.test_blue_sea_and_asked_blue_are_not_a_cast import patterned_wallpaper
from tests.judges.test_pixel_detectors import jpeg, judge
from tests.judges.test_pixels_colour_cast import blended, white_balanced


def sneaker_on_backdrop(backdrop: tuple[int, int, int], side: int = 1024, seed: int = 1) -> np.ndarray:
    """A white sneaker with a red stripe, shaded from its lit top to its foot, over a dark sole, on a studio
    backdrop of one colour that darkens toward the floor."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    picture = np.array(backdrop, np.float64) * (0.8 + 0.3 * (1 - yy))[..., None]
    body = ((xx - 0.5) / 0.33) ** 2 + ((yy - 0.55) / 0.17) ** 2 <= 1
    shade = np.clip(1.0 - 0.55 * (yy - 0.38) / 0.34, 0.45, 1.0)[..., None]
    stripe = body & (np.abs(yy - 0.5 - 0.15 * (xx - 0.5)) < 0.035)
    picture[body] = (np.array([245, 245, 242.0]) * shade)[body]
    picture[stripe] = (np.array([205, 30, 40.0]) * shade)[stripe]
    picture[(np.abs(xx - 0.5) < 0.33) & (yy > 0.68) & (yy < 0.72)] = (70, 70, 72)
    pixels = ndimage.gaussian_filter(picture, (1.2, 1.2, 0)) + rng.normal(0, 2, picture.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


BLUE = (40, 70, 160)
BLUE_CASTS_OVER_THE_SHOE = {
    "white-balance-30": lambda: white_balanced(sneaker_on_backdrop(BLUE), "blue", 0.3),
    "white-balance-50": lambda: white_balanced(sneaker_on_backdrop(BLUE), "blue", 0.5),
    "blend-15": lambda: blended(sneaker_on_backdrop(BLUE), "blue", 0.15),
    "blend-15-paler-backdrop": lambda: blended(sneaker_on_backdrop((60, 110, 200)), "blue", 0.15),
    "white-balance-50-jpeg": lambda: jpeg(white_balanced(sneaker_on_backdrop((60, 110, 200)), "blue", 0.5), 85),
}
PROMPTS = ["a red shoe on a blue background", "a white sneaker against a navy backdrop"]


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("picture", BLUE_CASTS_OVER_THE_SHOE.values(), ids=BLUE_CASTS_OVER_THE_SHOE.keys())
def test_a_cast_that_also_tints_the_subject_still_fails(picture, prompt: str) -> None:
    outcome, severity = judge("colour_cast", picture(), params={"prompt": prompt})
    assert not outcome.passed and outcome.facts.get("tint") in ("blue", "cyan", "purple"), outcome.detail
    assert severity == "mild"
    assert "as the prompt asks" not in outcome.detail


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_clean_shoe_on_its_asked_backdrop_passes(prompt: str) -> None:
    outcome, _ = judge("colour_cast", sneaker_on_backdrop(BLUE), params={"prompt": prompt})
    assert outcome.passed, outcome.detail


def test_a_colour_asked_for_the_whole_frame_still_passes_as_asked() -> None:
    outcome, _ = judge("colour_cast", patterned_wallpaper(), params={"prompt": "a blue gradient background with rings"})
    assert outcome.passed and "as the prompt asks" in outcome.detail, outcome.detail
