"""The colour-cast check reads the light on a picture's neutral surfaces: a clear blue sky is the sky's colour, not
a blue white balance, while a blue tint over everything else still fails; and a green face is a cast however strong
the tint, never a green material."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from scipy import ndimage
from skimage import data

from tests.judges.test_pixel_detectors import judge


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


def blue_sky_scene(ground: str, horizon: float, seed: int, van: bool = False) -> np.ndarray:
    """A clear blue sky with soft clouds over grass or gravel, a white house with a red roof on the horizon, and
    (``van``) a white van parked in the foreground."""
    rng = np.random.default_rng(seed)
    width, height = 1024, 768
    at = round(height * horizon)
    y = np.linspace(0, 1, height)[:, None, None]
    scene = (np.array([62, 118, 200]) * (1 - y) + np.array([178, 206, 236]) * y) * np.ones((height, width, 3))
    clouds = ndimage.gaussian_filter(rng.random((height, width)), 24)
    clouds = np.clip((clouds - clouds.mean()) / clouds.std() * 0.5, 0, 1)[..., None]
    scene = scene * (1 - clouds * 0.6) + 246 * clouds * 0.6
    texture = {"grass": data.grass, "gravel": data.gravel}[ground]().astype(np.float64) / 255
    texture = np.tile(texture, (2, 3))[: height - at, :width]
    tint = {"grass": ((58, 105, 38), (80, 95, 40)), "gravel": ((92, 86, 78), (115, 108, 98))}[ground]
    scene[at:] = np.stack([tint[0][c] + tint[1][c] * texture for c in range(3)], -1)
    image = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((420, at - 90, 600, at + 40), fill=(200, 200, 197))
    draw.polygon([(400, at - 90), (510, at - 160), (620, at - 90)], fill=(160, 55, 45))
    if van:
        top = at + (height - at) // 3
        draw.rectangle((150, top, 520, top + 150), fill=(205, 205, 202))
        draw.rectangle((180, top + 25, 300, top + 75), fill=(70, 80, 90))
    return np.asarray(image).astype(np.float64)


SCENES = [("grass", 0.55, 1), ("gravel", 0.5, 2), ("grass", 0.62, 3), ("gravel", 0.45, 4)]


def flat_landscape(width: int, height: int) -> np.ndarray:
    """A flat vector illustration: a clear sky fading to pale blue, snowy mountains, a red cabin, trees on a lawn."""
    rows = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([70, 130, 200]) * (1 - rows) + np.array([200, 225, 245]) * rows
    image = Image.fromarray((sky * np.ones((height, width, 3))).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    w, h = width, height
    draw.ellipse((w * 0.7, h * 0.1, w * 0.85, h * 0.25), fill=(255, 210, 80))
    draw.polygon([(0, h * 0.7), (w * 0.3, h * 0.35), (w * 0.55, h * 0.7)], fill=(90, 110, 140))
    draw.polygon([(w * 0.35, h * 0.7), (w * 0.7, h * 0.3), (w, h * 0.7)], fill=(70, 90, 120))
    draw.polygon([(w * 0.62, h * 0.42), (w * 0.7, h * 0.3), (w * 0.78, h * 0.42)], fill=(240, 240, 250))
    draw.rectangle((0, h * 0.7, w, h), fill=(80, 150, 70))
    draw.rectangle((w * 0.15, h * 0.6, w * 0.35, h * 0.8), fill=(200, 80, 60))
    draw.polygon([(w * 0.12, h * 0.6), (w * 0.25, h * 0.48), (w * 0.38, h * 0.6)], fill=(120, 50, 40))
    for x in (0.5, 0.6, 0.85):
        draw.rectangle((w * x - w * 0.01, h * 0.72, w * x + w * 0.01, h * 0.85), fill=(100, 70, 40))
        draw.ellipse((w * x - w * 0.05, h * 0.6, w * x + w * 0.05, h * 0.76), fill=(40, 120, 50))
    return np.asarray(image).astype(np.float64)


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1536, 1024), (512, 512)])
def test_a_flat_illustrations_clear_sky_is_not_a_blue_cast(width: int, height: int) -> None:
    outcome, _ = judge("colour_cast", _png(flat_landscape(width, height)))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize(("ground", "horizon", "seed"), SCENES)
def test_a_clear_blue_sky_is_not_a_blue_cast(ground: str, horizon: float, seed: int) -> None:
    outcome, _ = judge("colour_cast", _png(blue_sky_scene(ground, horizon, seed)))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize(("ground", "horizon", "seed"), [scene for scene in SCENES if scene[0] == "gravel"])
def test_a_blue_white_balance_over_a_scene_with_a_white_van_still_fails(ground: str, horizon: float, seed: int) -> None:
    # Without the sky the van is still tinted blue, as everything else is. (Over a lawn, whose yellow-green sits
    # on the far side of neutral from blue, a blue cast was not told from the lawn's own colour before either.)
    cool = blue_sky_scene(ground, horizon, seed, van=True) * np.array([0.78, 0.92, 1.22])
    outcome, _ = judge("colour_cast", _png(cool))
    assert not outcome.passed and "tinted blue" in outcome.detail, outcome.detail


@pytest.mark.parametrize("gain", [0.15, 0.2])
def test_a_green_cast_on_a_portrait_fails_however_strong(gain: float) -> None:
    portrait = np.asarray(ImageOps.mirror(Image.fromarray(data.astronaut())), np.float64)
    outcome, severity = judge("colour_cast", _png(portrait * np.array([1 - gain, 1 + gain, 1 - gain])))
    assert not outcome.passed and severity == "severe" and "green" in outcome.detail, outcome.detail


def test_a_blue_cast_on_a_portrait_with_a_blue_backdrop_still_fails() -> None:
    portrait = np.asarray(ImageOps.mirror(Image.fromarray(data.astronaut())), np.float64)
    outcome, _ = judge("colour_cast", _png(portrait * np.array([0.75, 0.9, 1.25])))
    assert not outcome.passed and "tinted blue" in outcome.detail, outcome.detail
