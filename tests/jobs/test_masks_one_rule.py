"""One edit mask means one region everywhere: the intake check, the providers' conversions, a keep-the-subject
task's inverted mask and the edit judges all read a mask with transparency by its alpha (fully transparent = the
region, whatever colour lies under it) and an opaque one by its brightness. The mask here disagrees with itself on
purpose: opaque white around a fully transparent black hole, and a half-transparent white band (which marks
nothing)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.judges.edit import (
    RemovalSettings,
    SimilaritySettings,
    changed_in_mask,
    preserved_outside_mask,
)
from sentinel.jobs.masks import inverted
from sentinel.providers.masks import as_alpha_mask, as_white_mask, edit_region
from sentinel.store.images import decoded_pixels
from sentinel.store.mask_region import check_marks_region, marked_extent, marked_region

SIDE = 128
HOLE = (slice(32, 64), slice(40, 80))


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def holed_mask() -> tuple[bytes, np.ndarray]:
    """Opaque white everywhere, a fully transparent black hole, a half-transparent white band; and the region it
    marks: the hole alone."""
    rgba = np.full((SIDE, SIDE, 4), 255, dtype=np.uint8)
    rgba[HOLE] = (0, 0, 0, 0)
    rgba[96:112, :, 3] = 128
    region = np.zeros((SIDE, SIDE), dtype=bool)
    region[HOLE] = True
    return png(rgba), region


def region_of(mask: bytes) -> np.ndarray:
    """The region as the providers read it (the rule's own reading)."""
    return edit_region(mask)


def test_every_reader_finds_the_hole_and_only_the_hole() -> None:
    mask, region = holed_mask()
    check_marks_region(mask, "change", judged=True)  # some marked, not all: accepted
    assert marked_extent(mask) == (True, False, True)
    assert (region_of(mask) == region).all()
    assert (region_of(as_white_mask(mask)) == region).all()
    assert (region_of(as_alpha_mask(mask)) == region).all()
    # A task that marks the subject to keep gets the complement, read from the alpha, not from the colour under it.
    assert (region_of(inverted(mask)) == ~region).all()
    assert (region_of(inverted(inverted(mask))) == region).all()


def test_the_edit_judges_compare_inside_and_outside_the_hole() -> None:
    mask, region = holed_mask()
    rng = np.random.default_rng(7)
    source = rng.integers(60, 190, size=(SIDE, SIDE, 3), dtype=np.uint8)
    result = source.copy()
    result[region] += 40  # changed inside the hole only; the white and the band around it are untouched

    def image(data: bytes) -> ImageSource:
        return ImageSource(hashlib.sha256(data).hexdigest(), "image/png", lambda: data, 100_000_000)

    decoded_pixels.clear()
    ctx = JudgeContext(image=image(png(result)), params={}, source=image(png(source)), mask=image(mask))
    changed = changed_in_mask(ctx, RemovalSettings(min_change=10))
    assert changed.passed and changed.measured == 40.0, changed
    kept = preserved_outside_mask(ctx, SimilaritySettings(min_ssim=0.9))
    assert kept.passed and kept.measured >= 0.99, kept


def test_a_sixteen_bit_grey_mask_is_scaled_not_clipped_to_white() -> None:
    """Levels 30000 and 60000 of 65535: dark grey (outside) and near white (the region), as the judges decode them;
    Pillow's own 8-bit conversion clips both to white, which would mark the whole mask."""
    grey = np.full((8, 8), 30000, dtype=np.uint16)
    grey[2:4, 2:4] = 60000
    mask = png(grey)
    assert Image.open(io.BytesIO(mask)).mode == "I;16"
    assert marked_extent(mask) == (True, False, False)
    assert int(marked_region(mask).sum()) == 4
    assert int(marked_region(inverted(mask)).sum()) == 60
