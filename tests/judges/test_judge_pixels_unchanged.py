"""The offline judges' faster paths read exactly what the plain ones did: a PNG is decoded to the pixels Pillow
gives (an RGB one without the extra copy a conversion to RGB made), the look for a place that could hold text
answers as the straightforward numpy definition of it, and the luminance and near-median share the pixels judge
reads are the same numbers. A customer's verdicts, failed criteria and measured values do not move."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

from sentinel.errors import BadImage
from sentinel.evaluation.judges import text
from sentinel.evaluation.judges.base import LUMA, luminance
from sentinel.evaluation.judges.pixels import near_share
from sentinel.store.images import decode_image

MAX_PIXELS = 10**8
#: An EXIF block whose only tag is Orientation 6 (rotate 90° clockwise to display).
ROTATED_EXIF = (
    b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + bytes(4)
)


def png(picture: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", **options)
    return buffer.getvalue()


def pillow_rgb(data: bytes) -> np.ndarray:
    """What Sentinel decoded every PNG with before: Pillow, transparency composited on white; turned as the EXIF
    orientation says, as viewers show it (sentinel.store.orientation)."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("RGB"))


def photo_like(width: int = 200, height: int = 150, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    noisy = ramp + rng.normal(0, 20, (height, width, 3))
    picture = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    ImageDraw.Draw(picture).ellipse((20, 20, width - 30, height - 20), fill=(200, 40, 90))
    return picture


def rgb16_png(width: int = 40, height: int = 30) -> bytes:
    """A 16-bit RGB PNG (Pillow reads it as RGB from the high bytes, and cannot write one)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    values = (np.arange(height * width * 3, dtype=np.uint32).reshape(height, width, 3) * 977 % 65536).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in values)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def chunks(*pairs: tuple[bytes, bytes]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for kind, body in pairs:
        info.add(kind, body)
    return info


@pytest.mark.parametrize(
    "data",
    [
        png(photo_like()),
        png(photo_like(seed=1), compress_level=0),
        png(photo_like(seed=2), optimize=True),
        # Colour-space chunks are not applied: a customer's pixels are judged as delivered.
        png(photo_like(seed=3), pnginfo=chunks((b"gAMA", struct.pack(">I", 20000)))),
        png(photo_like(seed=4), pnginfo=chunks((b"sRGB", b"\x00"))),
        # An EXIF orientation is applied, as viewers apply it.
        png(photo_like(seed=5), exif=ROTATED_EXIF),
        # Not plain 8-bit RGB: converted (or composited on white) as before.
        png(photo_like(seed=6).convert("RGBA")),
        png(photo_like(seed=7), transparency=(200, 40, 90)),
        png(photo_like(seed=8).convert("P")),
        png(photo_like(seed=9).convert("L")),
        rgb16_png(),
    ],
    ids=["rgb", "stored", "optimised", "gamma", "srgb", "exif", "rgba", "trns", "palette", "grey", "rgb16"],
)
def test_the_judges_read_the_pixels_pillow_reads(data: bytes) -> None:
    decoded = decode_image(data, max_pixels=MAX_PIXELS)
    assert decoded.rgb.dtype == np.uint8
    assert np.array_equal(decoded.rgb, pillow_rgb(data))


def test_a_png_whose_image_data_is_cut_short_still_fails_to_decode_with_pillows_reason() -> None:
    data = png(photo_like(400, 300), compress_level=0)
    cut = data[: len(data) // 2]
    with pytest.raises(BadImage, match="could not be decoded"):
        decode_image(cut, max_pixels=MAX_PIXELS)


def reference_might_hold_text(pixels: np.ndarray, side: int, edge_step: int) -> bool:
    """The look for text as first written in numpy (int16 steps, transposed columns, cumulative sums)."""
    import cv2

    def dense(rising: np.ndarray, falling: np.ndarray) -> bool:
        if rising.shape[1] <= text.TEXT_WINDOW or rising.shape[0] < text.TEXT_ROWS:
            return False
        starts = rising.astype(np.uint8)
        starts[:, 1:] &= ~rising[:, :-1]
        falls = falling.astype(np.uint8)
        falls[:, 1:] &= ~falling[:, :-1]
        starts += falls
        running = np.zeros((starts.shape[0], starts.shape[1] + 1), dtype=np.int32)
        np.cumsum(starts, axis=1, out=running[:, 1:])
        windows = running[:, text.TEXT_WINDOW :] - running[:, : -text.TEXT_WINDOW] >= text.TEXT_RUNS
        rows = len(windows) - text.TEXT_ROWS + 1
        together = windows[:rows].copy()
        for offset in range(1, text.TEXT_ROWS):
            together &= windows[offset : rows + offset]
        return bool(together.any())

    def edges(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if steps.ndim == 2:
            return steps >= edge_step, steps <= -edge_step
        return steps.max(axis=-1) >= edge_step, steps.min(axis=-1) <= -edge_step

    if min(pixels.shape[:2]) < 2 * text.TEXT_WINDOW:
        return True
    factor = max(1, min(max(pixels.shape[:2]) // side, min(pixels.shape[:2]) // (2 * text.TEXT_WINDOW)))
    image = pixels
    if factor > 1:
        image = cv2.resize(pixels, (pixels.shape[1] // factor, pixels.shape[0] // factor), interpolation=cv2.INTER_AREA)
    while min(image.shape[:2]) >= 2 * text.TEXT_WINDOW:
        levels = image.astype(np.int16)
        if dense(*edges(levels[:, 1:] - levels[:, :-1])):
            return True
        rising, falling = edges(levels[1:] - levels[:-1])
        if dense(np.ascontiguousarray(rising.T), np.ascontiguousarray(falling.T)):
            return True
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return False


def pictures_for_the_look_for_text() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    pictures = []
    for index in range(36):
        height, width = (int(n) for n in rng.integers(24, 360, 2))
        if index % 3 == 0:
            base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        else:
            base = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
        picture = Image.fromarray(base)
        draw = ImageDraw.Draw(picture)
        for _ in range(int(rng.integers(0, 3))):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            font = ImageFont.load_default(size=int(rng.integers(6, 48)))
            draw.text((int(rng.integers(0, width)), int(rng.integers(0, height))), "Ab 7x", fill=colour, font=font)
        rgb = np.asarray(picture)
        pictures += [rgb, np.ascontiguousarray(rgb[..., index % 3]), (rgb // 48 * 48).astype(np.uint8)]
    return pictures


@pytest.mark.parametrize("edge_step", [text.WATERMARK_EDGE_STEP, text.PAGE_EDGE_STEP, 20])
def test_the_look_for_text_answers_as_its_plain_definition(edge_step: int) -> None:
    pictures = pictures_for_the_look_for_text()
    answers = [
        (text.might_hold_text(p, side, edge_step), reference_might_hold_text(p, side, edge_step))
        for p in pictures
        for side in (text.DETECTION_SIDE, 64)
    ]
    assert all(fast == plain for fast, plain in answers)
    assert {fast for fast, _ in answers} == {True, False}  # both answers are exercised


def test_the_luminance_and_the_near_median_share_are_the_same_numbers() -> None:
    rng = np.random.default_rng(3)
    for rgb in (np.asarray(photo_like(333, 211)), rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)):
        plain = np.multiply(rgb[..., 0], LUMA[0], dtype=np.float32)
        plain += np.multiply(rgb[..., 1], LUMA[1], dtype=np.float32)
        plain += np.multiply(rgb[..., 2], LUMA[2], dtype=np.float32)
        gray = luminance(rgb)
        assert gray.dtype == np.float32 and np.array_equal(gray, plain)
        median = float(np.median(gray))
        for value in (median, median + 0.1, float(gray[0, 0])):
            for tolerance in (0, 6, 6.5):
                assert near_share(gray, value, tolerance) == float(np.mean(np.abs(gray - value) <= tolerance))
