"""A near-black bar drawn across an object-removal fill over dark foliage fails ``fill-matches-surroundings``.

Such a bar is in the colours of the gaps between the leaves, and a row through it moves only a few ΔE from its
neighbours, so the bar measure (colours found nowhere around the mask, or 10 ΔE) passed it. It is flat along its
length where every other row of the fill is textured, and the surroundings' same row is not flat: that is a bar. The
clean removal of the same scenes, with the dark gaps, bark ridges and a shadow crossing the mask, still passes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from tests.judges.test_edit_subject_edges_bands_and_patches import FRAMES, clean, with_bar
from tests.judges.test_edit_subject_edges_bands_and_patches import removal as removal_in


def foliage(width: int, height: int, seed: int = 7, light: tuple[int, int, int] = (40, 75, 32)) -> Image.Image:
    """Leaves of varied green over near-black gaps, under patchy light."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (width, height), (14, 22, 12))
    draw = ImageDraw.Draw(canvas)
    for _ in range(width * height // 250):
        x, y = rng.integers(0, width), rng.integers(0, height)
        radius = int(rng.integers(4, 14))
        gain = rng.uniform(0.5, 1.6)
        draw.ellipse(
            (x - radius, y - radius // 2, x + radius, y + radius // 2), fill=tuple(int(c * gain) for c in light)
        )
    pixels = np.asarray(canvas.filter(ImageFilter.GaussianBlur(1))).astype(np.float32)
    patches = Image.fromarray(rng.integers(0, 255, (height // 32, width // 32), dtype=np.uint8))
    shade = np.asarray(patches.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32) / 255
    pixels *= 0.5 + 0.75 * shade[..., None]
    pixels += rng.normal(0, 3, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def bark(width: int, height: int) -> Image.Image:
    """Dark brown bark: ridges running down it."""
    rng = np.random.default_rng(3)
    ridges = Image.fromarray(rng.integers(0, 255, (height // 3, width // 12), dtype=np.uint8))
    ridged = np.asarray(ridges.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32) / 255
    pixels = np.array([70, 55, 40]) * (0.3 + 0.9 * ridged[..., None]) + rng.normal(0, 3, (height, width, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def with_shadow(plate: Image.Image) -> Image.Image:
    """A soft diagonal shadow across the scene, through the mask and beyond."""
    pixels = np.asarray(plate).astype(np.float32)
    height, width = pixels.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    pixels *= (1 - 0.6 * np.exp(-((((y - 0.3 * x) - 0.45 * height) / 30) ** 2)))[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


SCENES = {
    "foliage": foliage,
    "other foliage": lambda width, height: foliage(width, height, seed=9),
    "darker foliage": lambda width, height: foliage(width, height, light=(30, 55, 25)),
    "bark": bark,
    "shadowed foliage": lambda width, height: with_shadow(foliage(width, height)),
    "shadowed bark": lambda width, height: with_shadow(bark(width, height)),
}


def removal(scene: str, frame: str, result_of: object) -> tuple[bool, str]:
    return removal_in(scene, frame, result_of, SCENES)  # type: ignore[arg-type]


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize(
    ("colour", "thickness", "vertical"),
    [((20, 20, 20), 8, False), ((10, 10, 10), 6, False), ((12, 14, 10), 8, True)],
    ids=["8 px across", "6 px across", "8 px down"],
)
def test_a_near_black_bar_across_a_dark_textured_fill_fails(
    scene: str, frame: str, colour: tuple[int, int, int], thickness: int, vertical: bool
) -> None:
    passed, detail = removal(scene, frame, with_bar(colour, thickness, vertical=vertical))
    assert not passed, detail
    assert "dark" in detail and "band crosses the fill" in detail, detail


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("scene", SCENES)
def test_the_clean_removal_of_the_same_scene_passes(scene: str, frame: str) -> None:
    passed, detail = removal(scene, frame, clean)
    assert passed, detail
