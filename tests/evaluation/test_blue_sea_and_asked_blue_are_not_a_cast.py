"""A blue sea under a blue sky is blue by nature, not under a blue light: the colour-cast check passes a seascape
(a photo or a flat illustration) whose palest parts are the sea's or the sky's, and a smooth gradient wallpaper,
which has no surfaces a light could tint; a blue the prompt asks the whole frame to be passes as asked. A real blue
cast, tinting what should be neutral (white walls, grey floors, skin), still fails."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from tests.judges.test_pixel_detectors import jpeg, judge
from tests.judges.test_pixels_colour_cast import blended, photo, room, white_balanced


def seascape(
    width: int,
    height: int,
    horizon: float,
    seed: int,
    sea: tuple[tuple[int, int, int], tuple[int, int, int]],
    sky: tuple[tuple[int, int, int], tuple[int, int, int]] = ((80, 140, 220), (160, 200, 240)),
    waves: bool = True,
) -> np.ndarray:
    """A clear sky fading toward the horizon over a sea (its colour near the horizon, then at the bottom), rippled
    and glinting (``waves``) or flat as an illustration."""
    rng = np.random.default_rng(seed)
    at = round(height * horizon)
    up = np.linspace(0, 1, at)[:, None, None]
    down = np.linspace(0, 1, height - at)[:, None, None]
    picture = np.concatenate(
        [np.array(sky[0]) * (1 - up) + np.array(sky[1]) * up, np.array(sea[0]) * (1 - down) + np.array(sea[1]) * down]
    ) * np.ones((1, width, 3))
    if waves:
        ripple = ndimage.gaussian_filter(rng.normal(0, 1, (height - at, width)), (1.5, 8))
        ripple /= ripple.std()
        picture[at:] += ripple[..., None] * np.array([10, 14, 16]) + np.clip(ripple - 2, 0, None)[..., None] * 60
        picture += rng.normal(0, 2, (height, width, 1))
    return np.clip(picture, 0, 255).astype(np.uint8)


SEAS = {
    "bright-sea-1024": lambda: seascape(1024, 1024, 0.35, 5, ((150, 190, 225), (50, 110, 170))),
    "bright-sea-1536x1024": lambda: seascape(1536, 1024, 0.4, 6, ((140, 185, 225), (40, 100, 165))),
    "bright-sea-768": lambda: seascape(768, 768, 0.3, 7, ((155, 195, 228), (60, 115, 175))),
    "turquoise-sea": lambda: seascape(1024, 768, 0.4, 8, ((120, 200, 215), (30, 120, 160))),
    "flat-illustration": lambda: seascape(
        1024, 1024, 0.45, 9, ((150, 195, 230), (40, 90, 160)), ((60, 120, 210), (165, 205, 240)), waves=False
    ),
}


@pytest.mark.parametrize("encoded", ["png", "jpeg-75"])
@pytest.mark.parametrize("scene", SEAS.values(), ids=SEAS.keys())
def test_a_blue_sea_under_a_blue_sky_is_not_a_cast(scene, encoded: str) -> None:
    picture = scene() if encoded == "png" else jpeg(scene(), 75)
    outcome, _ = judge("colour_cast", picture, params={"prompt": "a calm sea under a clear sky"})
    assert outcome.passed, outcome.detail


def gradient(
    width: int, height: int, start: tuple[int, int, int], end: tuple[int, int, int], slant: bool
) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    along = ((rows / height + cols / width) / 2 if slant else rows / height)[..., None]
    return np.clip(np.array(start) * (1 - along) + np.array(end) * along, 0, 255).astype(np.uint8)


GRADIENTS = {
    "deep-blue-down": lambda: gradient(1024, 1024, (20, 40, 120), (120, 170, 240), slant=False),
    "blue-slanted": lambda: gradient(1024, 1024, (10, 30, 90), (150, 200, 250), slant=True),
    "blue-slanted-1536x864": lambda: gradient(1536, 864, (30, 60, 140), (170, 205, 250), slant=True),
    "violet-down": lambda: gradient(768, 1024, (60, 30, 140), (190, 160, 245), slant=False),
}


@pytest.mark.parametrize("prompt", ["a blue gradient background", "an abstract wallpaper"])
@pytest.mark.parametrize("wallpaper", GRADIENTS.values(), ids=GRADIENTS.keys())
def test_a_smooth_gradient_wallpaper_is_not_a_cast(wallpaper, prompt: str) -> None:
    outcome, _ = judge("colour_cast", wallpaper(), params={"prompt": prompt})
    assert outcome.passed, outcome.detail


def patterned_wallpaper() -> np.ndarray:
    """A blue gradient with paler stripes across it: edges, so not a smooth field of colour."""
    picture = gradient(1024, 1024, (10, 30, 110), (165, 200, 250), slant=True).astype(np.float64)
    cols = np.arange(1024)[None, :] + np.arange(1024)[:, None]
    picture += ((cols // 24) % 2 == 0)[..., None] * np.array([14, 16, 12])
    return np.clip(picture, 0, 255).astype(np.uint8)


def test_a_blue_the_prompt_asks_the_whole_frame_to_be_passes_as_asked() -> None:
    wallpaper = patterned_wallpaper()
    failed, _ = judge("colour_cast", wallpaper, params={"prompt": "an abstract wallpaper with rings"})
    assert not failed.passed, failed.detail  # nothing asks for blue
    outcome, _ = judge("colour_cast", wallpaper, params={"prompt": "a blue gradient background with rings"})
    assert outcome.passed and "as the prompt asks" in outcome.detail, outcome.detail


def test_a_cast_of_another_colour_than_the_one_asked_still_fails() -> None:
    outcome, _ = judge("colour_cast", blended(room(face=False), "green", 0.12), params={"prompt": "a blue background"})
    assert not outcome.passed and "tinted green" in outcome.detail, outcome.detail


BLUE_CASTS = {
    "room-blend-12": lambda: blended(room(face=False), "blue", 0.12),
    "room-blend-30": lambda: blended(room(face=False), "blue", 0.3),
    "room-with-face-blend-30": lambda: blended(room(), "blue", 0.3),
    "garage-blend-30": lambda: blended(photo("china.jpg"), "blue", 0.3),
    "room-white-balance-50": lambda: white_balanced(room(face=False), "blue", 0.5),
    "room-white-balance-80": lambda: white_balanced(room(face=False), "blue", 0.8),
}


@pytest.mark.parametrize("picture", BLUE_CASTS.values(), ids=BLUE_CASTS.keys())
def test_a_real_blue_cast_still_fails(picture) -> None:
    outcome, _ = judge("colour_cast", picture(), params={"prompt": "a photo of a room"})
    assert not outcome.passed and outcome.facts.get("tint") in ("blue", "cyan", "purple"), outcome.detail


def test_a_blue_cast_over_a_seascape_with_a_white_boat_and_a_grey_pier_still_fails() -> None:
    scene = Image.fromarray(seascape(1024, 768, 0.4, 3, ((110, 160, 200), (40, 90, 150))))
    draw = ImageDraw.Draw(scene)
    draw.polygon([(300, 330), (700, 330), (650, 420), (350, 420)], fill=(200, 200, 198))
    draw.polygon([(500, 80), (500, 320), (690, 320)], fill=(212, 212, 209))
    draw.rectangle((494, 80, 502, 330), fill=(90, 90, 90))
    draw.rectangle((0, 600, 1024, 768), fill=(128, 126, 124))
    for x in range(40, 1024, 160):
        draw.rectangle((x, 560, x + 24, 768), fill=(96, 94, 92))
    for name, picture in {"plain": np.asarray(scene), "cast": white_balanced(np.asarray(scene), "blue", 0.5)}.items():
        outcome, _ = judge("colour_cast", picture)
        if name == "plain":
            assert outcome.passed, outcome.detail
        else:
            assert not outcome.passed and outcome.facts.get("tint") in ("blue", "cyan"), outcome.detail
