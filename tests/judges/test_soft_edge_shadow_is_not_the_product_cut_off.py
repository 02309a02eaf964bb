"""A soft grey shadow band lying along the frame's edge (a floor shadow, a vignette's corner) is background shading,
not the product running off the frame: ``not-cropped`` passes and does not tell an image model to shrink or move a
product that stands clear of the edge. A product the frame really cuts (coloured, textured, or grey/white with a
hard outline) still fails, with or without such a shadow."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sentinel.evaluation.judges import layout
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome
from sentinel.store.images import decoded_pixels

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def run(name: str, payload: bytes) -> Outcome:
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), "image/jpeg", lambda: payload, 100_000_000)
    check = layout.kind.checks[name]
    return check.run(JudgeContext(image=source, params={}), check.settings_model())


def cut_off(picture: np.ndarray) -> Outcome:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=90)
    return run("subject_cut_off", buffer.getvalue())


def test_the_shadow_band_fixture_is_not_cut_off_but_its_border_still_is_not_white() -> None:
    payload = (FIXTURES / "product-white-background" / "shadow-band.jpg").read_bytes()
    outcome = run("subject_cut_off", payload)
    assert outcome.passed and "cut off" not in outcome.detail, outcome.detail
    assert not run("white_background", payload).passed


def soft_band(size: int, level: float, blur: float, span: tuple[float, float] = (0.3, 0.7)) -> np.ndarray:
    """Darkness (0-1) of a soft shadow band along the bottom, over ``span`` of it, 8% of the frame deep, blurred."""
    shade = np.zeros((size, size), np.float32)
    first, last = int(span[0] * size), int(span[1] * size)
    depth = int(0.08 * size)
    shade[size - depth :, first:last] = 1.0
    # A gradient: darker towards the frame's edge, like a floor shadow falling off.
    shade[size - depth :] *= np.linspace(0.6, 1.0, depth)[:, None]
    shade = cv2.GaussianBlur(shade, (0, 0), blur * size / 1000)
    return shade * (255 - level) / 255


def turned(picture: np.ndarray, side: str) -> np.ndarray:
    """A scene drawn against the bottom edge, turned so that edge is ``side``."""
    return np.ascontiguousarray(np.rot90(picture, {"bottom": 0, "right": 1, "top": 2, "left": 3}[side]))


def shaded(picture: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """The picture with the shade darkening its white backdrop only (the product stands in front of it)."""
    backdrop = (picture >= 250).all(axis=2, keepdims=True)
    dark = picture.astype(np.float32) * (1 - shade[..., None])
    return np.where(backdrop, dark, picture).round().astype(np.uint8)


def product(size: int, colour: tuple[int, int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """A rounded box (a bottle, a carton) of ``colour`` with a dark outline, on pure white."""
    picture = np.full((size, size, 3), 255, np.uint8)
    left, top, right, bottom = (round(v * size) for v in box)
    cv2.rectangle(picture, (left, top), (right, bottom), colour, -1)
    cv2.rectangle(picture, (left, top), (right, bottom), tuple(int(c * 0.6) for c in colour), max(2, size // 300))
    cv2.rectangle(
        picture,
        (left + (right - left) // 5, top + (bottom - top) // 3),
        (right - (right - left) // 5, top + (bottom - top) // 2),
        (230, 220, 190),
        -1,
    )
    return picture


COLOURS = [(30, 110, 60), (190, 30, 35), (150, 150, 150), (228, 228, 228)]


@pytest.mark.parametrize("colour", COLOURS, ids=["green", "red", "grey", "white"])
@pytest.mark.parametrize("side", ["bottom", "left", "right"])
def test_a_soft_shadow_band_at_the_edge_is_not_the_product_cut_off(colour: tuple[int, int, int], side: str) -> None:
    size = 1024
    # The product stands clear of every edge, its shadow band runs from under it off the frame.
    standing = product(size, colour, (0.35, 0.12, 0.65, 0.88))
    band = soft_band(size, 175, blur=12)
    outcome = cut_off(turned(shaded(standing, band), side))
    assert outcome.passed, outcome.detail
    assert "cut off" not in outcome.detail


@pytest.mark.parametrize("size", [800, 1200, 2000])
def test_a_wide_soft_floor_shadow_under_a_cup_like_product_passes_at_other_sizes(size: int) -> None:
    standing = product(size, (140, 40, 30), (0.2, 0.3, 0.8, 0.9))
    band = soft_band(size, 190, blur=20, span=(0.1, 0.9))
    outcome = cut_off(shaded(standing, band))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("colour", COLOURS, ids=["green", "red", "grey", "white"])
def test_a_product_the_bottom_edge_cuts_still_fails(colour: tuple[int, int, int]) -> None:
    size = 1024
    cut = product(size, colour, (0.35, 0.25, 0.65, 1.2))
    outcome = cut_off(cut)
    assert not outcome.passed and "bottom" in outcome.detail, outcome.detail
    # Its own soft shadow band along the same edge does not hide the cut.
    outcome = cut_off(shaded(cut, soft_band(size, 175, blur=12, span=(0.25, 0.75))))
    assert not outcome.passed and "bottom" in outcome.detail, outcome.detail


def test_a_textured_grey_shoe_whose_toe_leaves_the_frame_still_fails() -> None:
    size = 1024
    picture = np.full((size, size, 3), 255, np.uint8)
    cv2.ellipse(picture, (size - 150, 600), (420, 160), 0, 0, 360, (120, 120, 120), -1)
    rng = np.random.default_rng(3)
    grain = rng.integers(-40, 40, (size, size, 1))
    inside = (picture < 250).all(axis=2, keepdims=True)
    picture = np.where(inside, np.clip(picture.astype(int) + grain, 0, 255), picture).astype(np.uint8)
    outcome = cut_off(picture)
    assert not outcome.passed and "right" in outcome.detail, outcome.detail
