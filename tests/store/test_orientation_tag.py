"""The EXIF orientation helpers agree with Pillow's own reading of the tag, for arrays and for images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from sentinel.store.orientation import orientation, shown_size, upright, upright_array


def tagged_jpeg(value: int, size: tuple[int, int] = (64, 40)) -> bytes:
    rng = np.random.default_rng(value)
    picture = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = value
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("value", range(1, 9))
def test_every_orientation_matches_pillows_transpose(value: int) -> None:
    opened = Image.open(io.BytesIO(tagged_jpeg(value)))
    assert orientation(opened) == value
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(tagged_jpeg(value)))).convert("RGB"))
    stored = np.asarray(opened.convert("RGB"))
    assert np.array_equal(upright_array(stored, value), expected)
    assert np.array_equal(np.asarray(upright(opened.convert("RGB"), value)), expected)
    assert shown_size(64, 40, value) == (expected.shape[1], expected.shape[0])
    assert upright_array(stored, value).flags.c_contiguous


def test_no_tag_an_odd_value_and_a_damaged_block_are_as_stored() -> None:
    plain = io.BytesIO()
    Image.new("RGB", (8, 4)).save(plain, "PNG")
    assert orientation(Image.open(plain)) == 1
    odd = Image.open(io.BytesIO(tagged_jpeg(9)))
    assert orientation(odd) == 1
    damaged = bytearray(tagged_jpeg(6))
    start = damaged.index(b"Exif\x00\x00") + 6
    damaged[start : start + 8] = b"\xff" * 8  # the TIFF header of the EXIF block
    assert orientation(Image.open(io.BytesIO(bytes(damaged)))) == 1


def test_reading_the_orientation_reads_no_pixels() -> None:
    """Pillow's getexif on a PNG without an EXIF block decodes the whole image looking for one: every upload's check
    paid 15 ms for a 1024² PNG."""
    plain = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(plain, "PNG")
    for data in (plain.getvalue(), tagged_jpeg(6)):
        opened = Image.open(io.BytesIO(data))
        orientation(opened)
        assert opened.tile, "the pixels were decoded"
