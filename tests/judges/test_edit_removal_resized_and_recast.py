"""A perfect object removal returned smaller than its source, or with the whole frame's colours drifted, shows no
ghost of the removed object (an outside probe's findings F13 and its sibling): the ghost measure compares the fill
with the source as the result shows it. A fill that still shows the object stays caught at any size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from sentinel.evaluation.judges.edit import (
    FillSettings,
    PreservedSettings,
    fill_matches_surroundings,
    preserved_outside_mask,
)
from tests.support.edit_inputs import context

#: The box the object was pasted in on the 512² astronaut (over the suit and the flag behind it), and the mask.
BOX = (330, 360, 460, 490)


def astronaut() -> np.ndarray:
    return data.astronaut()[..., :3].astype(np.float32)


def with_ball(pixels: np.ndarray) -> np.ndarray:
    """A shaded blue ball pasted in BOX: the object a removal takes away."""
    height, width = pixels.shape[:2]
    left, top, right, bottom = BOX
    yy, xx = np.mgrid[0:height, 0:width]
    radius = (right - left) / 2 * 0.85
    d2 = ((xx - (left + right) / 2) ** 2 + (yy - (top + bottom) / 2) ** 2) / radius**2
    inside = d2 < 1
    shade = 0.5 + 0.5 * np.sqrt(np.clip(1 - d2, 0, 1))
    out = pixels.copy()
    out[inside] = (np.array([40, 80, 200], dtype=np.float32) * shade[..., None])[inside]
    return out


def image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def box_mask() -> Image.Image:
    mask = np.zeros((512, 512), dtype=np.uint8)
    left, top, right, bottom = BOX
    mask[top:bottom, left:right] = 255
    return Image.fromarray(mask)


@pytest.mark.parametrize("scale", [0.5, 0.6, 0.75, 0.9])
def test_a_perfect_removal_returned_smaller_shows_no_ghost(scale: float) -> None:
    base = astronaut()
    side = round(512 * scale)
    result = image(base).resize((side, side), Image.Resampling.LANCZOS)
    outcome = fill_matches_surroundings(context(image(with_ball(base)), result, box_mask()), FillSettings())
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("scale", [0.6, 0.9])
def test_a_ghost_of_the_object_returned_smaller_still_fails(scale: float) -> None:
    base = astronaut()
    ghost = 0.45 * with_ball(base) + 0.55 * base
    side = round(512 * scale)
    result = image(ghost).resize((side, side), Image.Resampling.LANCZOS)
    outcome = fill_matches_surroundings(context(image(with_ball(base)), result, box_mask()), FillSettings())
    assert not outcome.passed


def test_a_warm_brighter_frame_is_a_recoloured_picture_not_a_ghost() -> None:
    base = astronaut()
    drifted = base * np.array([1.08, 1.03, 0.92], dtype=np.float32) + 6
    ctx = context(image(with_ball(base)), image(drifted), box_mask())
    fill = fill_matches_surroundings(ctx, FillSettings())
    assert "ghost" not in fill.detail, fill.detail
    assert not preserved_outside_mask(ctx, PreservedSettings()).passed


def right_half_mask() -> Image.Image:
    """A mask painted broadly: the right half of the frame, which holds the object (F25)."""
    mask = np.zeros((512, 512), dtype=np.uint8)
    mask[:, 256:] = 255
    return Image.fromarray(mask)


def test_a_perfect_removal_under_a_broad_mask_is_not_a_flat_patch() -> None:
    base = astronaut()
    outcome = fill_matches_surroundings(context(image(with_ball(base)), image(base), right_half_mask()), FillSettings())
    assert outcome.passed, outcome.detail


def test_a_flat_patch_under_a_broad_mask_still_fails() -> None:
    base = astronaut()
    flat = base.copy()
    left, top, right, bottom = BOX
    flat[top:bottom, left:right] = base.reshape(-1, 3).mean(axis=0)
    outcome = fill_matches_surroundings(context(image(with_ball(base)), image(flat), right_half_mask()), FillSettings())
    assert not outcome.passed
    assert "flat" in outcome.detail
