"""Held-out probe findings P1-F3 and P1-F17 on product shots: a separate prop beside the product on pure white (a
flat disc, a cube, a second bottle) fails ``plain-background`` at least moderately, while a product alone, with its
soft shadow or as a set, passes; and a flat grey floor band the product stands on is not reported as the product
being cut off by the frame (a product that is cut still is)."""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
from PIL import Image

from sentinel.evaluation.judges import layout
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.store.images import decoded_pixels


def judge(name: str, picture: np.ndarray) -> tuple[Outcome, str | None]:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    payload = buffer.getvalue()
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), "image/png", lambda: payload, 100_000_000)
    check = layout.kind.checks[name]
    outcome = check.run(JudgeContext(image=source, params={}), check.settings_model())
    criterion = Criterion(id="c", must="The image is fine.", judge="layout", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def bottle(size: int = 1200) -> np.ndarray:
    """A shaded bottle, 90% of the frame's height, on pure white, with a soft contact shadow."""
    picture = np.full((size, size, 3), 255, np.uint8)
    shadow = np.zeros((size, size), np.float32)
    cv2.ellipse(shadow, (size // 2, int(size * 0.95)), (size // 6, size // 60), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), size / 80)
    picture = (picture * (1 - 0.25 * shadow[..., None])).astype(np.uint8)
    left, right = int(size * 0.4), int(size * 0.6)
    for x in range(left, right):
        shade = 0.6 + 0.4 * np.sin(np.pi * (x - left) / (right - left))
        picture[int(size * 0.2) : int(size * 0.95), x] = (int(40 * shade), int(110 * shade), int(60 * shade))
    picture[int(size * 0.05) : int(size * 0.2), int(size * 0.47) : int(size * 0.53)] = (30, 60, 35)
    label = (int(size * 0.42), int(size * 0.45)), (int(size * 0.58), int(size * 0.65))
    cv2.rectangle(picture, *label, (235, 225, 190), -1)
    return picture


def test_a_flat_disc_or_cube_beside_the_product_is_a_prop() -> None:
    with_disc = bottle()
    cv2.circle(with_disc, (960, 1000), 100, (240, 210, 40), -1)
    outcome, severity = judge("busy_background", with_disc)
    assert not outcome.passed and severity == "moderate", outcome.detail
    assert "separate object" in outcome.detail and "lower right" in outcome.detail
    with_cube = bottle()
    cv2.rectangle(with_cube, (140, 860), (330, 1060), (200, 40, 40), -1)
    outcome, severity = judge("busy_background", with_cube)
    assert not outcome.passed and severity == "moderate", outcome.detail
    assert "lower left" in outcome.detail


def test_the_product_alone_with_its_soft_shadow_or_a_detached_soft_shadow_is_plain() -> None:
    assert judge("busy_background", bottle())[0].passed
    shadowed = bottle().astype(np.float32)
    blob = np.zeros(shadowed.shape[:2], np.float32)
    cv2.ellipse(blob, (950, 1050), (120, 30), 0, 0, 360, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), 25)
    shadowed *= 1 - 0.3 * blob[..., None]
    outcome, _ = judge("busy_background", shadowed.astype(np.uint8))
    assert outcome.passed, outcome.detail
    # A tiny speck is not a prop.
    specked = bottle()
    cv2.circle(specked, (1000, 1000), 12, (200, 40, 40), -1)
    assert judge("busy_background", specked)[0].passed


def floor_band(picture: np.ndarray, start: float) -> np.ndarray:
    out = picture.copy()
    size = picture.shape[0]
    top = int(size * start)
    levels = np.linspace(200, 217, size - top)[:, None]
    band = np.repeat(levels, size, axis=1)
    keep = (picture[top:] < 200).any(axis=2)  # the bottle stands in front of the floor
    out[top:][~keep] = band[~keep, None].astype(np.uint8)
    return out


def test_a_grey_floor_band_is_not_the_product_cut_off_by_the_frame() -> None:
    outcome, _ = judge("subject_cut_off", floor_band(bottle(), 0.8))
    assert outcome.passed, outcome.detail
    assert "cut off" not in outcome.detail
    flat = bottle()
    flat[1000:] = (128, 128, 128)
    outcome, _ = judge("subject_cut_off", flat)
    assert outcome.passed, outcome.detail


def test_a_product_cut_by_the_frame_above_a_floor_band_is_still_cut_off() -> None:
    shifted = np.full_like(bottle(), 255)
    shifted[:-300] = bottle()[300:]  # the bottle's neck runs past the top edge
    outcome, _ = judge("subject_cut_off", floor_band(shifted, 0.9))
    assert not outcome.passed and "top" in outcome.detail and "left" not in outcome.detail, outcome.detail
