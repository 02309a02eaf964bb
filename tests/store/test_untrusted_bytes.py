"""Untrusted image bytes that are cut short or oversized are refused at upload in their sender's terms: what is
wrong with the file, never a decoder library's internals; and an image whose pixel data stops early is never
judged as a picture (its missing rows would be judged as black)."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentinel.errors import BadImage
from sentinel.store.images import decode_image, decode_rgb, inspect_image
from tests.conftest import SENTINEL

MAX_PIXELS = 40_000_000
INTERNALS = ("MAX_TEXT", "PngImagePlugin", "decoder object", "bytes not processed", "BytesIO", "0x")
#: The seven passes of an Adam7-interlaced PNG: first column, first row, column step, row step.
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, raw: bytes, *, interlace: int = 0, before_data: bytes = b"") -> bytes:
    """An RGB PNG of 8 bits a channel whose image data is ``raw`` (filter bytes and pixels) compressed whole."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + before_data
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def rows_of(pixels: np.ndarray) -> bytes:
    return b"".join(b"\0" + row.tobytes() for row in pixels)


def interlaced(pixels: np.ndarray) -> bytes:
    """The Adam7 image data of ``pixels``: each pass's rows, filter byte first."""
    passes = [pixels[top::down, left::across] for left, top, across, down in ADAM7]
    return b"".join(rows_of(part) for part in passes if part.size)


def encoded(pixels: np.ndarray, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, kind, **options)
    return buffer.getvalue()


def refused(data: bytes) -> str:
    with pytest.raises(BadImage) as refusal:
        inspect_image(data, max_bytes=20_000_000, max_pixels=MAX_PIXELS, field="image")
    message = refusal.value.message
    assert not any(word in message for word in INTERNALS), message
    return message


# --- 1. A PNG's oversized text chunk ----------------------------------------------------------------------------


def compressed_text(kind: bytes) -> bytes:
    """A ``kind`` chunk whose compressed text expands to 2 MB (a 2 KB chunk)."""
    stream = zlib.compress(b"a" * (2 * 1024 * 1024), 9)
    body = {
        b"zTXt": b"Comment\0\0" + stream,
        b"iTXt": b"Comment\0\1\0\0\0" + stream,
        b"iCCP": b"profile\0\0" + stream,
    }[kind]
    return chunk(kind, body)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"iCCP"])
def test_a_png_text_chunk_past_what_is_read_is_refused_saying_so(kind: bytes) -> None:
    data = png(8, 8, rows_of(rgb(8, 8)), before_data=compressed_text(kind))
    message = refused(data)
    assert "expands to more than 1.0 MB; at most 1.0 MB of one is read" in message, message
    assert ("colour profile" if kind == b"iCCP" else f"text chunk ({kind.decode()})") in message, message


# --- 2. Truncated and corrupt files of every accepted format (and the ones we do not accept) ---------------------


def cut(data: bytes, share: float = 0.5) -> bytes:
    return data[: int(len(data) * share)]


def webp_cut_with_consistent_header(data: bytes) -> bytes:
    """Half a WebP whose RIFF header is rewritten to the bytes that remain (a careless proxy)."""
    half = cut(data)
    return half[:4] + struct.pack("<I", len(half) - 8) + half[8:]


PICTURE = rgb(96, 64)
ANIMATED_WEBP = encoded(PICTURE, "WEBP", save_all=True, append_images=[Image.fromarray(PICTURE[::-1])], duration=90)
TRUNCATED = {
    "webp-lossy-cut": (cut(encoded(PICTURE, "WEBP")), "the WebP is truncated (its header declares"),
    "webp-alpha-cut": (
        cut(encoded(np.dstack([PICTURE, PICTURE[..., :1]]), "WEBP", lossless=True)),
        "the WebP is truncated (its header declares",
    ),
    "webp-animated-header-cut": (ANIMATED_WEBP[:40], "the WebP is truncated (its header declares"),
    "webp-riff-rewritten": (
        webp_cut_with_consistent_header(encoded(PICTURE, "WEBP")),
        "the WebP is corrupt (its chunks do not parse",
    ),
    "jpeg-cut": (cut(encoded(PICTURE, "JPEG")), "JPEG end-of-image marker is missing"),
    "progressive-jpeg-cut-then-end-marker": (
        cut(encoded(PICTURE, "JPEG", progressive=True), 0.4) + b"\xff\xd9",
        "pixel data is incomplete (the progressive JPEG's scans stop before its picture is complete",
    ),
    "png-cut": (cut(encoded(PICTURE, "PNG")), "truncated PNG file"),
    "gif-cut": (cut(encoded(PICTURE, "GIF")), "pixel data is incomplete (the GIF's data is cut off"),
    "gif-cut-then-trailer": (cut(encoded(PICTURE, "GIF")) + b";", "pixel data is incomplete (the GIF's data"),
    "tiff": (encoded(PICTURE, "TIFF"), "the bytes are TIFF, a format not judged: send the image as PNG"),
    "bmp": (encoded(PICTURE, "BMP"), "the bytes are BMP, a format not judged"),
    "avif": (encoded(PICTURE, "AVIF"), "the bytes are AVIF, a format not judged"),
    "empty": (b"", "the file is empty"),
    "one-byte": (b"\x89", "the file is only 1 byte long: a PNG cut short"),
}


@pytest.mark.parametrize("data,words", TRUNCATED.values(), ids=TRUNCATED.keys())
def test_a_cut_or_foreign_file_is_refused_at_upload_naming_what_is_wrong(data: bytes, words: str) -> None:
    assert words in refused(data)


# --- 3. Pixel data that stops early ---------------------------------------------------------------------------


def one_row_of_6000() -> bytes:
    """The probe's 97-byte PNG: 6000×6000 declared, one row of data in a zlib stream that ends properly."""
    return png(6000, 6000, b"\0" * (1 + 6000 * 3))


def test_the_97_byte_png_declaring_6000_squared_is_refused_as_incomplete() -> None:
    data = one_row_of_6000()
    assert len(data) == 97
    message = refused(data)
    assert "pixel data is incomplete" in message and "6,000×6,000 pixels" in message, message


def test_a_png_whose_data_is_too_short_for_its_size_is_refused_not_padded_black() -> None:
    """Deflate packs at most 1032 bytes into one: image data under that share of what the header requires cannot
    hold every row, whatever it inflates to (plain or interlaced)."""
    flat = np.zeros((400, 400, 3), np.uint8)
    assert "pixel data is incomplete" in refused(png(400, 4000, rows_of(flat)))
    assert "pixel data is incomplete" in refused(png(400, 4000, interlaced(flat)[:2000], interlace=1))
    # Whole, flat and noisy, plain and interlaced: they load and are judged as the pixels they hold.
    for pixels in (np.zeros((4000, 400, 3), np.uint8), rgb(120, 80)):
        height, width = pixels.shape[:2]
        for whole in (png(width, height, rows_of(pixels)), png(width, height, interlaced(pixels), interlace=1)):
            inspect_image(whole, max_bytes=20_000_000, max_pixels=MAX_PIXELS)
            assert np.array_equal(decode_image(whole, max_pixels=MAX_PIXELS).rgb, pixels)


def test_complete_images_of_every_accepted_kind_are_still_accepted() -> None:
    pixels = rgb(97, 61)
    image = Image.fromarray(pixels)
    kinds = [encoded(pixels, "PNG"), encoded(pixels, "GIF"), encoded(pixels, "WEBP"), encoded(pixels, "JPEG")]
    kinds += [encoded(pixels, "JPEG", progressive=True), encoded(pixels, "JPEG", progressive=True, optimize=True)]
    for mode in ("L", "P", "1", "LA", "RGBA", "I;16"):
        buffer = io.BytesIO()
        (image.convert("I").convert(mode) if mode == "I;16" else image.convert(mode)).save(buffer, "PNG")
        kinds.append(buffer.getvalue())
    for mode in ("L", "CMYK"):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, "JPEG", progressive=True)
        kinds.append(buffer.getvalue())
    for data in kinds:
        assert inspect_image(data, max_bytes=20_000_000, max_pixels=MAX_PIXELS).width == 97


def gif_ending_its_pixels_early(width: int, height: int) -> bytes:
    """A GIF whose blocks are all whole but whose LZW data ends (end-of-information code) after three pixels."""
    codes, size = [4, 1, 1, 1, 5], 3  # clear, three pixels of colour 1, end (code size 2 + 1)
    bits = sum(code << (size * index) for index, code in enumerate(codes))
    lzw = bits.to_bytes((size * len(codes) + 7) // 8, "little")
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02" + bytes([len(lzw)]) + lzw + b"\0"
    return screen + image + b";"


def test_a_gif_whose_pixels_end_early_is_not_judged_as_a_picture() -> None:
    incomplete = r"^image could not be decoded: its pixel data is incomplete \(the GIF's data .*truncated"
    with pytest.raises(BadImage, match=incomplete):
        decode_image(gif_ending_its_pixels_early(3000, 3000), max_pixels=MAX_PIXELS)


# --- Through the API and the CLI --------------------------------------------------------------------------------

BODIES = {
    "png-6000-one-row": (one_row_of_6000(), "pixel data is incomplete"),
    "webp-cut": (cut(encoded(PICTURE, "WEBP")), "WebP is truncated (its header declares"),
    "png-ztxt-2mb": (png(8, 8, rows_of(rgb(8, 8)), before_data=compressed_text(b"zTXt")), "at most 1.0 MB"),
    "gif-cut": (cut(encoded(PICTURE, "GIF")), "GIF's data is cut off"),
    "empty": (b"", "empty"),
    "one-byte": (b"\xff", "JPEG cut short"),
}


@pytest.mark.parametrize("data,words", BODIES.values(), ids=BODIES.keys())
def test_an_upload_of_broken_bytes_is_a_422_in_the_senders_terms(client, data: bytes, words: str) -> None:
    answer = client.post(
        "/v1/evaluations",
        data={"task": "text-to-image", "params": "{}"},
        files={"image": ("upload.bin", data, "application/octet-stream")},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "bad_image" and words in error["message"], error
    assert not any(word in error["message"] for word in INTERNALS), error


def test_sentinel_eval_does_not_judge_an_image_with_incomplete_pixel_data(tmp_path: Path) -> None:
    image = tmp_path / "probe.png"
    image.write_bytes(one_row_of_6000())
    run = subprocess.run(
        [SENTINEL, "eval", "-t", "text-to-image", "--json", str(image)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1, run.stdout + run.stderr
    said = run.stdout + run.stderr
    assert "pixel data is incomplete" in said, said
    assert '"verdict": "red"' not in said and "blank" not in said, said


def test_a_text_chunk_after_the_image_data_is_refused_at_upload_not_when_judged() -> None:
    """Pillow reads the chunks after the image data only when it decodes: such a PNG passed the upload and its
    judges failed on ``PngImagePlugin.MAX_TEXT_CHUNK``."""
    pixels = rgb(8, 8)
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows_of(pixels)))
        + compressed_text(b"zTXt")
        + chunk(b"IEND", b"")
    )
    assert "text chunk (zTXt) that expands to more than 1.0 MB" in refused(data)
    # A small text after the image data is fine.
    small = data.replace(compressed_text(b"zTXt"), chunk(b"tEXt", b"Comment\0made by hand"))
    inspect_image(small, max_bytes=20_000_000, max_pixels=MAX_PIXELS)


def test_a_stored_png_whose_pixel_data_ends_early_is_refused_when_decoded_too() -> None:
    """An image stored before the upload check refused such files reaches the judges: they refuse it as
    incomplete rather than judge a dark, blank picture."""
    data = one_row_of_6000()
    for decode in (
        lambda: decode_image(data, max_pixels=MAX_PIXELS, analysis_pixels=6_000_000),
        lambda: decode_rgb(data, max_pixels=MAX_PIXELS),
    ):
        with pytest.raises(BadImage, match=r"pixel data is incomplete \(the PNG's image data is \d+ bytes, too little"):
            decode()
