"""Recognising and decoding untrusted image bytes.

The type of an image comes from its bytes, never from a header or a file name.
:func:`inspect_image` is the cheap check on the request path (magic bytes, header,
structure, pixel cap); :func:`decode_rgb` is the full decode the judges use, cached
per content hash so judges running in one worker decode each image once.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

from sentinel.errors import BadImage, ImageTooLarge, format_size

#: MIME type for each Pillow format we accept; anything else is refused.
ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}

# A truncated image must be an error, not a silently grey-padded picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the magic bytes announce, or None when they are not an allowed format."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _describe(data: bytes) -> str:
    head = data[:64]
    if not data:
        return "the file is empty"
    if head.lstrip().startswith((b"<", b"{", b"[")) or all(32 <= b < 127 or b in b"\r\n\t" for b in head):
        return "the bytes are text, not an image"
    return "the bytes are not a PNG, JPEG, WebP or GIF image"


def _check_limits(width: int, height: int, max_pixels: int, field: str | None) -> None:
    if width <= 0 or height <= 0:
        raise BadImage(f"image declares an empty size {width}×{height}", field=field)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}×{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels (possible decompression bomb)",
            field=field,
        )


def _open(data: bytes, max_pixels: int, field: str | None) -> Image.Image:
    # Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; we refuse at our own, lower cap.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:.0f} megapixels" if declared else "too many pixels"
        raise ImageTooLarge(
            f"image refused as a decompression bomb: it declares {size}; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels",
            field=field,
        ) from exc
    except Exception as exc:
        raise BadImage(f"image could not be read: {exc}", field=field) from exc
    _check_limits(image.width, image.height, max_pixels, field)
    return image


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str | None = None) -> ImageInfo:
    """Validate an upload without decoding its pixels; raise a clear error when it is unusable."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {format_size(len(data))}; the limit is {format_size(max_bytes)}", field=field)
    mime = sniff_mime(data)
    if mime is None:
        raise BadImage(f"not an accepted image: {_describe(data)}", field=field)
    image = _open(data, max_pixels, field)
    if ALLOWED_FORMATS.get(image.format or "") != mime:
        raise BadImage(f"image bytes look like {mime} but do not parse as one", field=field)
    width, height = image.size
    try:
        # verify() walks the chunk structure (PNG CRCs to IEND) without inflating pixels.
        image.verify()
    except Exception as exc:
        raise BadImage(f"image is corrupt or truncated: {exc}", field=field) from exc
    if mime == "image/jpeg" and b"\xff\xd9" not in data[-64:]:
        raise BadImage("image is truncated: the JPEG end-of-image marker is missing", field=field)
    if mime == "image/png" and b"IEND" not in data[-16:]:
        raise BadImage("image is truncated: the PNG IEND chunk is missing", field=field)
    return ImageInfo(
        sha256=hashlib.sha256(data).hexdigest(), mime=mime, width=width, height=height, size_bytes=len(data)
    )


#: Pillow's modes for one channel of more than 8 bits (a 16-bit greyscale PNG opens as I;16).
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
#: libjpeg decodes the missing part of a JPEG cut short as exactly this grey (all-zero coefficients).
JPEG_FILL_GREY = 128
#: The smallest band of that grey counted as missing data: one row of 8×8 blocks.
JPEG_FILL_MIN_ROWS = 8
#: The tallest row of blocks (16 px with chroma subsampling), above the grey, where a decoder stopped part way.
JPEG_BLOCK_ROW = 17


def _wide_grey_to_rgb(image: Image.Image) -> np.ndarray:
    """A 16-bit greyscale image scaled to 8 bits (Pillow's own conversion clips every value above 255 to white)."""
    values = np.asarray(image).astype(np.uint32)
    grey = (np.clip(values, 0, 65535) * 255 + 32767) // 65535
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def _missing_jpeg_rows(rgb: np.ndarray) -> int:
    """How many bottom rows are the flat grey libjpeg fills in where a JPEG's data ran out (0 when none).

    A JPEG cut short and given a new end marker decodes without an error: the blocks the data never reached come
    out as one exact mid-grey. The decoder stops part way along a row of blocks, so just above the grey rows one
    row of blocks is content on the left and grey on the right. That step tells a cut file from a picture whose
    lower part is merely painted that grey (a generation that stopped), which the judges report as such.
    """
    tail = rgb[-JPEG_FILL_MIN_ROWS:]
    if tail.shape[0] < JPEG_FILL_MIN_ROWS or np.any(np.abs(tail.astype(np.int16) - JPEG_FILL_GREY) > 1):
        return 0
    grey = np.all(np.abs(rgb.astype(np.int16) - JPEG_FILL_GREY) <= 1, axis=2)
    flat = grey.all(axis=1)
    # Rows from the bottom up while they are all fill grey.
    missing = int(np.argmin(flat[::-1])) if not flat.all() else int(flat.size)
    first = rgb.shape[0] - missing
    width = rgb.shape[1]
    for row in grey[max(0, first - JPEG_BLOCK_ROW) : first]:
        # Where this row's trailing run of fill grey starts: a partly decoded row of blocks ends in one.
        start = width - int(np.argmin(row[::-1])) if not row.all() else 0
        if 0 < start <= width - JPEG_FILL_MIN_ROWS:
            return missing
    return 0


def decode_rgb(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Fully decode to an HxWx3 uint8 array (first frame of a GIF; alpha composited on white; 16-bit scaled)."""
    image = _open(data, max_pixels, None)
    try:
        image.seek(0)
        image.load()
    except Exception as exc:
        raise BadImage(f"image could not be decoded: {exc}") from exc
    if image.mode in WIDE_GREY_MODES:
        return _wide_grey_to_rgb(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"))
    if image.format == "JPEG" or data.startswith(b"\xff\xd8\xff"):
        missing = _missing_jpeg_rows(rgb)
        if missing:
            height = rgb.shape[0]
            raise BadImage(
                f"image is truncated: the JPEG's data ends early and its last {missing} of {height} rows "
                f"({missing / height:.0%}) are the flat grey a decoder fills in for missing data"
            )
    return rgb


class DecodedCache:
    """A small LRU of decoded pixels keyed by content hash, shared by a worker's threads."""

    def __init__(self, max_entries: int = 16) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get_or_decode(self, sha256: str, load_bytes: Callable[[], bytes], max_pixels: int) -> np.ndarray:
        with self._lock:
            cached = self._entries.get(sha256)
            if cached is not None:
                self._entries.move_to_end(sha256)
                return cached
        pixels = decode_rgb(load_bytes(), max_pixels=max_pixels)
        pixels.setflags(write=False)
        with self._lock:
            self._entries[sha256] = pixels
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return pixels


#: Process-wide cache; judges of one evaluation in one worker share the decode.
decoded_pixels = DecodedCache()
