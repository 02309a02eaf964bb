"""A graphic of smooth colour gradients (a colour wheel filling the frame, its hues running into one another) has
no detail to lose: the sharp check passes it as a graphic, while a photograph blurred as much or more (whatever its
colours) and a flat-coloured graphic blurred over its edges still fail as blurred."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.color import hsv2rgb

from tests.judges.test_pixel_detectors import judge


def colour_wheel(width: int, height: int, radial: bool = False, steps: int = 0) -> np.ndarray:
    """Hues round the centre of the frame, fully saturated (``radial``: fading to white at the centre); ``steps``:
    the hue rounded to that many steps, as a hue stored in a byte is."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    hue = (np.arctan2(rows - height / 2, cols - width / 2) / (2 * np.pi)) % 1
    if steps:
        hue = np.floor(hue * steps) / steps
    radius = np.hypot(rows - height / 2, cols - width / 2) / (0.45 * max(width, height))
    saturation = np.clip(radius, 0, 1) if radial else np.ones_like(radius)
    rgb = hsv2rgb(np.dstack([hue, saturation, np.ones_like(hue)])) * 255
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


WHEELS = {
    "1024-square": lambda: colour_wheel(1024, 1024),
    "1536x1024": lambda: colour_wheel(1536, 1024),
    "768x1024-radial": lambda: colour_wheel(768, 1024, radial=True),
    "512-hue-in-a-byte": lambda: colour_wheel(512, 512, steps=180),
    "1024-hue-in-a-byte": lambda: colour_wheel(1024, 1024, steps=180),
}


@pytest.mark.parametrize("wheel", WHEELS.values(), ids=WHEELS.keys())
def test_a_colour_wheel_filling_the_frame_is_not_blurred(wheel) -> None:
    outcome, _ = judge("sharp", wheel())
    assert outcome.passed, outcome.detail


def test_a_colour_wheel_saved_as_jpeg_is_not_blurred() -> None:
    outcome, _ = judge("sharp", jpeg(colour_wheel(1024, 1024)))
    assert outcome.passed, outcome.detail


def _upscaled(picture: np.ndarray) -> np.ndarray:
    height, width = picture.shape[:2]
    return cv2.resize(picture, (1024, round(1024 * height / width)), interpolation=cv2.INTER_CUBIC)


PHOTOS = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "cat": data.chelsea,
    "rocket": data.rocket,
    "stained-cells": data.immunohistochemistry,
}


@pytest.mark.parametrize("sigma", [6, 20, 30])
@pytest.mark.parametrize("photo", PHOTOS.values(), ids=PHOTOS.keys())
def test_a_blurred_photo_still_fails(photo, sigma: int) -> None:
    outcome, _ = judge("sharp", cv2.GaussianBlur(_upscaled(photo()), (0, 0), sigma))
    assert not outcome.passed and "blurred" in outcome.detail, outcome.detail


def test_a_blurred_photo_of_vivid_colours_still_fails() -> None:
    # Colour carries this picture more than its brightness, as it does a colour wheel's.
    vivid = _upscaled(colour_wheel(64, 64, steps=12)[..., ::-1].copy())
    photo = cv2.addWeighted(_upscaled(data.astronaut()), 0.3, vivid, 0.7, 0)
    outcome, _ = judge("sharp", cv2.GaussianBlur(photo, (0, 0), 12))
    assert not outcome.passed and "blurred" in outcome.detail, outcome.detail


def test_a_flat_coloured_wheel_blurred_over_its_edges_still_fails() -> None:
    outcome, _ = judge("sharp", cv2.GaussianBlur(colour_wheel(1024, 1024, steps=12), (0, 0), 8))
    assert not outcome.passed and "blurred" in outcome.detail, outcome.detail
