"""A phone's portrait photo is stored as landscape pixels with an EXIF orientation that every viewer applies. The
judges measure the picture as a person sees it: its size, its pixels, and the image a vision model is sent; the
stored bytes (and the image's id) stay the caller's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from sentinel.evaluation.judges.base import JudgeContext
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_panel
from sentinel.evaluation.vision.judge import _image_as_sent
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from sentinel.store.images import decode_image, inspect_image, preview_rgb
from sentinel.store.orientation import upright_bytes
from tests.conftest import FIXTURES
from tests.judges.test_odd_shapes import source_of


def tagged(value: int) -> bytes:
    """The flower photo (640×427 as stored) with EXIF orientation ``value``."""
    exif = Image.Exif()
    exif[0x0112] = value
    buffer = io.BytesIO()
    Image.open(FIXTURES / "photos" / "flower.jpg").save(buffer, "JPEG", exif=exif, quality=92)
    return buffer.getvalue()


def shown(data: bytes) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def size_criterion(data: bytes, width: int, height: int) -> dict[str, object]:
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    image = source_of(data)
    params = {"prompt": "a flower", "width": width, "height": height}
    _, votes = run_panel(Panel.from_dir(DATA_ROOT / "judges"), rubric, lambda j: JudgeContext(image, params), 1.0)
    return next(c for v in votes for c in v.criteria if c["id"] == "size")


def test_a_portrait_phone_photo_is_judged_portrait() -> None:
    portrait = tagged(6)
    assert inspect_image(portrait, max_bytes=1 << 24, max_pixels=1 << 26).width == 427
    assert size_criterion(portrait, 427, 640)["passed"]
    wrong = size_criterion(portrait, 640, 427)
    assert not wrong["passed"] and "427×640" in str(wrong["detail"])


@pytest.mark.parametrize("value", range(1, 9))
def test_the_judges_pixels_are_the_picture_as_shown(value: int) -> None:
    data = tagged(value)
    expected = shown(data)
    full = decode_image(data, max_pixels=1 << 26)
    assert (full.width, full.height) == (expected.shape[1], expected.shape[0])
    assert np.array_equal(full.rgb, expected)
    reduced = decode_image(data, max_pixels=1 << 26, analysis_pixels=100_000)
    assert (reduced.width, reduced.height) == (expected.shape[1], expected.shape[0])
    assert (reduced.rgb.shape[0] > reduced.rgb.shape[1]) == (expected.shape[0] > expected.shape[1])
    assert reduced.rows is not None and reduced.columns is not None
    assert reduced.rows.shape[1] == expected.shape[1] and reduced.columns.shape[0] == expected.shape[0]
    # The first sampled row is one of the shown picture's first eight (where the sampling grid starts depends on
    # the turn), pixel for pixel.
    luma = np.asarray(Image.fromarray(expected).convert("L"), dtype=int)
    assert min(np.abs(reduced.rows[0].astype(int) - luma[row]).max() for row in range(8)) <= 1
    preview = preview_rgb(data, max_pixels=1 << 26, analysis_pixels=50_000)
    assert (preview.shape[0] > preview.shape[1]) == (expected.shape[0] > expected.shape[1])


def test_a_vision_model_is_sent_the_photo_upright() -> None:
    portrait = tagged(6)
    part = _image_as_sent(source_of(portrait), "image", 2048)
    assert part.data is not None
    sent = Image.open(io.BytesIO(part.data))
    assert sent.size == (427, 640) and ImageOps.exif_transpose(sent).size == (427, 640)
    plain = tagged(1)
    assert _image_as_sent(source_of(plain), "image", 2048).data == plain  # an upright photo is sent as it is


def test_a_provider_is_sent_a_turned_source_upright_for_a_mask_drawn_on_it_as_shown() -> None:
    portrait = tagged(6)
    sent = Image.open(io.BytesIO(upright_bytes(portrait)))
    assert sent.format == "PNG" and sent.size == (427, 640)
    assert np.abs(np.asarray(sent.convert("RGB"), dtype=int) - shown(portrait)).max() == 0
    plain = tagged(1)
    assert upright_bytes(plain) is plain
