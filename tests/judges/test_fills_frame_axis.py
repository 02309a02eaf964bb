"""fills-frame measures the product along the axis it fills most: an upright bottle filling 95% of a landscape
frame's height was "fills 63% of the longest side", and its fix ("make the product larger") could only be met by
cropping it, which not-cropped then fails."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.judges.layout import FillsFrameSettings, fills_frame
from sentinel.store.images import inspect_image


def product(width: int, height: int, box: tuple[int, int, int, int]) -> JudgeContext:
    picture = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(picture).rectangle(box, fill=(30, 110, 60))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    data = buffer.getvalue()
    info = inspect_image(data, max_bytes=20 << 20, max_pixels=40_000_000)
    return JudgeContext(image=ImageSource(info.sha256, info.mime, lambda: data, 40_000_000), params={})


def test_a_tall_product_filling_a_landscape_frames_height_fills_the_frame() -> None:
    outcome = fills_frame(product(1536, 1024, (618, 26, 918, 997)), FillsFrameSettings())
    assert outcome.passed, outcome.detail
    assert "of the frame's height" in outcome.detail


def test_a_small_product_still_fails_naming_the_axis_and_the_need() -> None:
    outcome = fills_frame(product(1024, 1024, (400, 300, 600, 700)), FillsFrameSettings())
    assert not outcome.passed
    assert outcome.detail.startswith("subject fills 39.2% of the frame's height") and "needs 85%" in outcome.detail
