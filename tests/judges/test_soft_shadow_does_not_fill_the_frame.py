"""A soft floor or contact shadow spread wider than the product does not make it wider for ``fills-frame``, as such
shading is not the product for ``not-cropped``: a product filling two thirds of the frame fails however wide its
shadow, and a product that really fills the frame still passes with its shadow under it (the product stands on it:
down the frame it counts, as for the fixture shadow-smooth.jpg, a box framed with its shadow under it)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from sentinel.evaluation.judges.base import Outcome
from tests.judges.test_soft_edge_shadow_is_not_the_product_cut_off import COLOURS, product, run, shaded


def contact_shadow(size: int, level: int, span: tuple[float, float], under: float, blur: float) -> np.ndarray:
    """Darkness (0-1) of a soft elliptic floor shadow centred ``under`` (share of the height), over ``span``."""
    shade = np.zeros((size, size), np.float32)
    centre = (round((span[0] + span[1]) / 2 * size), round(under * size))
    axes = (round((span[1] - span[0]) / 2 * size), round(0.05 * size))
    cv2.ellipse(shade, centre, axes, 0, 0, 360, 1.0, -1)
    shade = cv2.GaussianBlur(shade, (0, 0), blur * size / 1000)
    return shade * (255 - level) / 255


def fills(picture: np.ndarray) -> Outcome:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=90)
    return run("fills_frame", buffer.getvalue())


@pytest.mark.parametrize("colour", COLOURS, ids=["green", "red", "grey", "white"])
@pytest.mark.parametrize(("level", "blur"), [(175, 12), (215, 30)])
def test_a_small_product_with_a_wide_soft_shadow_does_not_fill_the_frame(
    colour: tuple[int, int, int], level: int, blur: float
) -> None:
    size = 1024
    # 65% of the frame's height, 30% of its width; its shadow spreads over 94% of the width.
    small = shaded(
        product(size, colour, (0.35, 0.15, 0.65, 0.80)), contact_shadow(size, level, (0.03, 0.97), 0.8, blur)
    )
    outcome = fills(small)
    assert not outcome.passed, outcome.detail
    # Its height, with the shadow it stands on: the shadow does not widen it.
    assert outcome.measured is not None and outcome.measured < 0.75, outcome.detail
    assert "height" in outcome.detail, outcome.detail


@pytest.mark.parametrize("colour", COLOURS, ids=["green", "red", "grey", "white"])
@pytest.mark.parametrize("shadow", [False, True], ids=["bare", "shadowed"])
def test_a_product_that_fills_the_frame_still_passes_with_its_shadow(
    colour: tuple[int, int, int], shadow: bool
) -> None:
    size = 1024
    tall = product(size, colour, (0.3, 0.05, 0.7, 0.93))
    wide = product(size, colour, (0.05, 0.4, 0.95, 0.7))
    if shadow:
        tall = shaded(tall, contact_shadow(size, 200, (0.1, 0.9), 0.93, 20))
        wide = shaded(wide, contact_shadow(size, 200, (0.02, 0.98), 0.7, 20))
    for picture in (tall, wide):
        outcome = fills(picture)
        assert outcome.passed, outcome.detail
