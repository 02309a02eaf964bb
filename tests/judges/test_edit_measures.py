"""The edit judge's measures are the numbers a reviewer reads: exact mean change per channel, the share of
the background in the requested colour, SSIM where nothing changed, at any image size."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.judges.edit import (
    BackgroundColorSettings,
    RemovalSettings,
    SimilaritySettings,
    background_color,
    changed_in_mask,
    preserved_outside_mask,
)
from sentinel.store.images import decoded_pixels


def source_of(pixels: np.ndarray) -> ImageSource:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    return ImageSource(hashlib.sha256(data).hexdigest(), "image/png", lambda: data, 100_000_000)


def context(source: np.ndarray, result: np.ndarray, mask: np.ndarray, **params: str) -> JudgeContext:
    decoded_pixels.clear()
    return JudgeContext(image=source_of(result), params=params, source=source_of(source), mask=source_of(mask))


@pytest.mark.parametrize("side", [256, 1024])
def test_mean_change_in_the_mask_is_exact_and_the_outside_is_untouched(side: int) -> None:
    rng = np.random.default_rng(1)
    source = rng.integers(60, 190, size=(side, side, 3), dtype=np.uint8)
    mask = np.zeros((side, side), dtype=np.uint8)
    mask[side // 4 : side // 2, side // 4 : side // 2] = 255
    result = source.copy()
    region = mask > 0
    result[region] = source[region] + 40  # +40 on every channel inside; values stay below 255
    result[region, 1] -= 80  # and -40 on green: the change is absolute
    ctx = context(source, result, np.stack([mask] * 3, axis=-1))
    changed = changed_in_mask(ctx, RemovalSettings(min_change=10))
    assert changed.passed and changed.measured == 40.0
    kept = preserved_outside_mask(ctx, SimilaritySettings(min_ssim=0.9))
    assert kept.passed and kept.measured == 1.0


def test_background_colour_counts_pixels_within_the_distance() -> None:
    side = 200
    source = np.full((side, side, 3), 90, dtype=np.uint8)
    mask = np.zeros((side, side, 3), dtype=np.uint8)
    mask[80:120, 80:120] = 255
    result = np.full((side, side, 3), 240, dtype=np.uint8)  # 26 levels from white: within 40
    result[:50] = 230  # a quarter 43.3 levels from white: outside 40
    ctx = context(source, result, mask, color="#ffffff")
    outcome = background_color(ctx, BackgroundColorSettings(max_distance=40, min_fraction=0.5))
    assert outcome.passed
    assert 0.70 < outcome.measured < 0.76  # three quarters of what lies outside the mask (less its margin)
    strict = background_color(ctx, BackgroundColorSettings(max_distance=40, min_fraction=0.9))
    assert not strict.passed and "averages #" in strict.detail
