"""The watermark read's contrast normalisation, computed in place, gives byte for byte what the formula gives step by
step with a new array for each step (the form it was written in first): the detector sees the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges import text
from tests.judges.test_ocr_models import _marked_photo


def _step_by_step(gray: np.ndarray) -> np.ndarray:
    import cv2

    side = max(gray.shape)
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), side / 400)
    shrink = min(1.0, 320 / side)
    small = cv2.resize(smooth, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA) if shrink < 1 else smooth
    sigma = max(small.shape) / 25
    mean = cv2.GaussianBlur(small, (0, 0), sigma)
    variance = cv2.GaussianBlur((small - mean) ** 2, (0, 0), sigma)
    if shrink < 1:
        size = (gray.shape[1], gray.shape[0])
        mean = cv2.resize(mean, size, interpolation=cv2.INTER_LINEAR)
        variance = cv2.resize(variance, size, interpolation=cv2.INTER_LINEAR)
    spread = np.sqrt(np.maximum(variance, 0) + text.WATERMARK_CONTRAST_FLOOR**2)
    normalised = np.clip(128 + 45 * (smooth - mean) / spread, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.dstack([normalised] * 3))


def _grays() -> list[np.ndarray]:
    marked = np.asarray(Image.fromarray(_marked_photo()).convert("L"))
    scene = np.asarray(photo_scene(640, 5))
    middle = np.ascontiguousarray(scene[96:544, 64:576])
    weakest = middle.min(axis=2)
    rng = np.random.default_rng(7)
    return [
        marked,  # larger than 320: the surroundings measured on a smaller copy and scaled back
        np.asarray(Image.fromarray(marked).resize((320, 320), Image.Resampling.BOX)),  # the detection copy's size
        np.asarray(Image.fromarray(middle).convert("L")),
        weakest,
        rng.integers(0, 256, (37, 53), dtype=np.uint8),
        rng.integers(0, 256, (500, 200), dtype=np.uint8),
        np.full((64, 96), 200, dtype=np.uint8),  # flat: every pixel at the contrast floor
    ]


@pytest.mark.parametrize("index", range(7))
def test_contrast_normalised_is_byte_for_byte_the_formula(index: int) -> None:
    gray = _grays()[index]
    made = text._contrast_normalised(gray)
    expected = _step_by_step(gray)
    assert made.dtype == np.uint8 and made.shape == (*gray.shape, 3) and made.flags.c_contiguous
    np.testing.assert_array_equal(made, expected)
