"""A perfect object removal on a textured surface is not a seam or a ghost (an outside probe's finding F14): a
brick wall's mortar line that runs along the mask's edge was the wall's before the edit, and grass blades beside a
lifted square are the grass's. A different object painted where the removed one stood, in colours the scene has
elsewhere, is a new object (F28, on a café table)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from skimage import data

from sentinel.evaluation.judges.edit import FillSettings, fill_matches_surroundings
from tests.support.edit_inputs import context


def image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def grey_photo(name: str) -> np.ndarray:
    grey = getattr(data, name)().astype(np.float32)
    return np.repeat(grey[..., None], 3, axis=2)


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = np.zeros(shape, dtype=np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    return Image.fromarray(mask)


def fill_outcome(source: np.ndarray, result: np.ndarray, box: tuple[int, int, int, int]):
    mask = box_mask(source.shape[:2], box)
    return fill_matches_surroundings(context(image(source), image(result), mask), FillSettings())


def test_a_perfect_removal_on_a_brick_wall_is_not_a_seam() -> None:
    wall = grey_photo("brick")
    height, width = wall.shape[:2]
    box = (180, 180, 330, 330)  # its top edge lies along a mortar line
    yy, xx = np.mgrid[0:height, 0:width]
    ball = (xx - 255) ** 2 + (yy - 255) ** 2 < 64**2
    source = wall.copy()
    source[ball] = (40, 80, 200)
    outcome = fill_outcome(source, wall, box)
    assert outcome.passed, outcome.detail


def test_a_seam_drawn_along_the_mask_on_a_brick_wall_still_fails() -> None:
    wall = grey_photo("brick")
    height, width = wall.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    ball = (xx - 255) ** 2 + (yy - 255) ** 2 < 64**2
    source = wall.copy()
    source[ball] = (40, 80, 200)
    result = wall.copy()
    result[181:184, 180:330] = 20  # a dark line drawn just inside the mask's top edge
    result[180:330, 181:184] = 20
    outcome = fill_outcome(source, result, (180, 180, 330, 330))
    assert not outcome.passed
    assert "seam" in outcome.detail


def test_a_perfect_removal_on_grass_shows_no_ghost() -> None:
    grass = grey_photo("grass")
    source = grass.copy()
    source[200:300, 200:300] = (40, 80, 200)
    outcome = fill_outcome(source, grass, (190, 190, 310, 310))
    assert outcome.passed, outcome.detail


def test_a_cat_painted_where_the_object_stood_on_a_cafe_table_is_a_new_object() -> None:
    cafe = np.asarray(ImageOps.mirror(Image.fromarray(data.coffee())), dtype=np.float32)
    left, top, right, bottom = box = (40, 250, 160, 370)
    height, width = cafe.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    ball = (xx - 100) ** 2 + (yy - 310) ** 2 < 51**2
    source = cafe.copy()
    source[ball] = (40, 80, 200)
    cat = Image.fromarray(data.chelsea()).crop((150, 50, 330, 250)).resize((right - left - 20, bottom - top - 20))
    result = cafe.copy()
    result[top + 10 : bottom - 10, left + 10 : right - 10] = np.asarray(cat, dtype=np.float32)
    outcome = fill_outcome(source, result, box)
    assert not outcome.passed
    assert "new object" in outcome.detail, outcome.detail
    assert fill_outcome(source, cafe, box).passed
