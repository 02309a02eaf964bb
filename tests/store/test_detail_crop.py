"""The full-resolution detail a large image's decode keeps (what the noise and JPEG checks read) is a piece of the
image itself, whatever its shape: a strip only a few pixels tall is not padded with black rows it does not have."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sentinel.store.images import decode_image


@pytest.mark.parametrize(("width", "height"), [(1_200_000, 5), (5, 1_200_000), (2_000_000, 7), (3, 3_000_000)])
def test_the_detail_of_a_thin_large_image_holds_only_its_own_pixels(width: int, height: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(buffer, "PNG")
    decoded = decode_image(buffer.getvalue(), max_pixels=50_000_000, analysis_pixels=4_000_000)
    assert decoded.detail is not None
    detail_height, detail_width = decoded.detail.shape[:2]
    assert detail_width <= width and detail_height <= height
    assert int(decoded.detail.min()) == 250, "the detail holds pixels the image does not have"
