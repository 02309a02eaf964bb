"""A horizon across the middle of a picture (a smooth sky meeting textured sea or land) is the scene's own edge,
not two pictures stitched together; a half of one picture brightened or shifted still is."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage import data

from tests.judges.test_pixel_detectors import judge


def _jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92)
    return out.getvalue()


def _sky(width: int, height: int, seed: int) -> np.ndarray:
    """A blue gradient with soft clouds."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (np.array([65, 120, 198]) * (1 - y) + np.array([180, 208, 235]) * y) * np.ones((height, width, 3))
    clouds = ndimage.gaussian_filter(rng.random((height, width)), 22)
    clouds = np.clip((clouds - clouds.mean()) / clouds.std() * 0.6, 0, 1)[..., None]
    return sky * (1 - clouds * 0.6) + 245 * clouds * 0.6


def _ground(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "sea":
        waves = ndimage.gaussian_filter(rng.random((height, width)), (1.5, 8))
        waves = (waves - waves.mean()) / waves.std()
        return np.stack([30 + 12 * waves, 82 + 15 * waves, 122 + 18 * waves], -1)
    texture = {"grass": data.grass, "gravel": data.gravel}[kind]()
    tiles = np.tile(texture, (height // texture.shape[0] + 1, width // texture.shape[1] + 1))[:height, :width]
    shade = tiles.astype(np.float64) / 255
    tint = {"grass": ([60, 110, 40], [80, 90, 40]), "gravel": ([90, 84, 76], [120, 112, 100])}[kind]
    return np.stack([tint[0][c] + tint[1][c] * shade for c in range(3)], -1)


def landscape(kind: str, horizon: float = 0.5, house: bool = False, seed: int = 3) -> bytes:
    width, height = 1024, 768
    at = round(height * horizon)
    picture = _sky(width, height, seed)
    picture[at:] = _ground(kind, width, height - at, seed)
    picture += np.random.default_rng(seed).normal(0, 1.5, picture.shape)
    image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))
    if house:  # something standing on the horizon, across it
        draw = ImageDraw.Draw(image)
        draw.rectangle((400, at - 110, 620, at + 80), fill=(232, 232, 226))
        draw.polygon([(380, at - 110), (510, at - 200), (640, at - 110)], fill=(150, 60, 50))
    return _jpeg(np.asarray(image))


@pytest.mark.parametrize("kind", ["sea", "grass", "gravel"])
@pytest.mark.parametrize("house", [False, True], ids=["open", "with-a-house"])
def test_a_sharp_horizon_across_the_middle_is_not_a_seam(kind: str, house: bool) -> None:
    outcome, _ = judge("tiling", landscape(kind, house=house))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("horizon", [1 / 3, 2 / 3])
def test_a_horizon_at_a_third_is_not_a_seam_either(horizon: float) -> None:
    outcome, _ = judge("tiling", landscape("sea", horizon))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("photo", [data.coffee, data.chelsea, data.astronaut, data.rocket])
def test_a_photographs_lower_half_brightened_is_still_a_seam(photo) -> None:
    pixels = photo().astype(np.int16)
    pixels[pixels.shape[0] // 2 :] += 12
    outcome, _ = judge("tiling", _jpeg(np.clip(pixels, 0, 255).astype(np.uint8)))
    assert not outcome.passed and "horizontal seam runs at 50%" in outcome.detail, outcome.detail


@pytest.mark.parametrize("photo", [data.coffee, data.chelsea, data.astronaut])
def test_a_photographs_lower_half_shifted_is_still_a_seam(photo) -> None:
    pixels = photo()
    half = pixels.shape[0] // 2
    shifted = pixels.copy()
    shifted[half:] = np.roll(pixels[half:], 60, axis=1)
    outcome, severity = judge("tiling", _jpeg(shifted))
    assert not outcome.passed and severity == "moderate" and "horizontal seam" in outcome.detail, outcome.detail


def test_a_seam_inside_the_textured_ground_is_still_a_seam() -> None:
    # The sea's lower two thirds brightened: both sides of that line are sea, so it is a stitch, not a horizon.
    pixels = np.asarray(Image.open(io.BytesIO(landscape("sea", horizon=0.2)))).astype(np.int16)
    pixels[pixels.shape[0] // 2 :] += 14
    outcome, _ = judge("tiling", _jpeg(np.clip(pixels, 0, 255).astype(np.uint8)))
    assert not outcome.passed and "horizontal seam runs at 50%" in outcome.detail, outcome.detail
