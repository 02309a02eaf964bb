"""Recognising and decoding untrusted image bytes.

The type of an image comes from its bytes, never from a header or a file name.
:func:`inspect_image` is the cheap check on the request path (magic bytes, header,
structure, pixel cap); :func:`decode_image` is the decode the judges use, cached per content
hash so judges running in one worker decode each image once. Memory stays bounded: the cache is
bounded in bytes, decodes at once share a byte budget, and an image past the analysis limit is
kept as a reduced copy plus the full-resolution samples pixel-level measures need.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import io
import math
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile
from zlib_ng import zlib_ng
from zlib_ng.zlib_ng import crc32

from sentinel.errors import BadImage, DecodeBusy, ImageTooLarge, format_size, over_the_limit
from sentinel.store.orientation import orientation, shown_size, sideways, upright_array

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


#: The signatures :func:`sniff_mime` knows, by the format's name (a body shorter than its format's is cut short).
_SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff", "GIF": b"GIF8", "WebP": b"RIFF"}


def _describe(data: bytes) -> str:
    head = data[:64]
    if not data:
        return "the file is empty"
    for name, signature in _SIGNATURES.items():
        if len(data) < len(signature) + 4 and signature.startswith(data[: len(signature)]):
            return f"the file is only {len(data)} byte{'s' if len(data) > 1 else ''} long: a {name} cut short"
    if head.lstrip().startswith((b"<", b"{", b"[")) or all(32 <= b < 127 or b in b"\r\n\t" for b in head):
        return "the bytes are text, not an image"
    other = _other_format(data)
    if other:
        return f"the bytes are {other}, a format not judged: send the image as PNG, JPEG, WebP or GIF"
    return "the bytes are not a PNG, JPEG, WebP or GIF image"


def _other_format(data: bytes) -> str | None:
    """The name of an image format we do not accept, from its magic bytes (so a sender knows to convert it)."""
    if data[:4] in (b"II*\0", b"MM\0*"):
        return "TIFF"
    if data[:2] == b"BM":
        return "BMP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"heim", b"heis"):
            return "HEIF/HEIC"
    if data.startswith(b"\0\0\0\x0cjP  ") or data.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG 2000"
    if data.startswith(b"\xff\x0a") or data.startswith(b"\0\0\0\x0cJXL "):
        return "JPEG XL"
    return None


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
        raise BadImage(_unopenable(data, exc), field=field) from exc
    _check_limits(image.width, image.height, max_pixels, field)
    return image


def _unopenable(data: bytes, exc: Exception) -> str:
    """Why an image could not be opened, in the sender's terms. Pillow's own words for some refusals name its
    internals (``PngImagePlugin.MAX_TEXT_CHUNK``) or libwebp's (``could not create decoder object``), which tell
    whoever sent the bytes nothing they can act on."""
    words = str(exc)
    if "MAX_TEXT" in words or "text chunks" in words:
        problem = _png_text_problem(data) or "the PNG's text chunks hold more metadata than is read"
        return f"image could not be read: {problem}"
    if sniff_mime(data) == "image/webp":
        return _webp_damage(data)
    return f"image could not be read: {_unreadable(exc)}"


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size < 10 * 2**20 else f"{size / 2**20:.0f} MB"


#: The chunks whose text (or profile) Pillow reads into memory, each within PngImagePlugin.MAX_TEXT_CHUNK.
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")


def _png_text_problem(data: bytes) -> str | None:
    """A PNG's text or colour-profile chunk that Pillow refuses to read, in the sender's terms: one that expands
    past the most it reads of a chunk, or all of them together past the most it keeps; None when there is none.
    Each compressed chunk is inflated no further than that bound (a damaged one is skipped, as Pillow skips it)."""
    from PIL import PngImagePlugin

    most, total_most = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    total = 0
    for kind, start, length in _png_chunks(data):
        if kind not in _PNG_TEXT_CHUNKS:
            continue
        body = data[start : start + length]
        _, _, rest = body.partition(b"\0")
        # zTXt and iCCP: a method byte, then the stream; iTXt: a compressed flag and method, then two strings.
        if kind in (b"zTXt", b"iCCP"):
            stream: bytes | None = rest[1:]
        elif kind == b"iTXt" and rest[:1] == b"\1":
            stream = rest[2:].split(b"\0", 2)[-1]
        else:
            stream = None
        if stream is None:
            total += len(body)
            continue
        try:
            size = len(zlib_ng.decompressobj().decompress(stream, most + 1))
        except zlib_ng.error:
            continue
        if size > most:
            label = "colour profile (iCCP)" if kind == b"iCCP" else f"text chunk ({kind.decode()})"
            return (
                f"the PNG holds a {label} that expands to more than {_megabytes(most)}; at most "
                f"{_megabytes(most)} of one is read (drop or shorten its metadata)"
            )
        total += size if kind != b"iCCP" else 0
        if total > total_most:
            return (
                f"the PNG's text chunks hold more than {_megabytes(total_most)} in all; at most "
                f"{_megabytes(total_most)} are read (drop or shorten its metadata)"
            )
    return None


def _webp_damage(data: bytes) -> str:
    """Why a file that starts as a WebP is not one libwebp can read: cut short (its RIFF header declares more bytes
    than came), or damaged within."""
    declared = int.from_bytes(data[4:8], "little") + 8 if len(data) >= 8 else 0
    if declared > len(data):
        return (
            f"image could not be read: the WebP is truncated (its header declares {declared:,} bytes and only "
            f"{len(data):,} came: a download or upload cut short?)"
        )
    return "image could not be read: the WebP is corrupt (its chunks do not parse as a WebP image)"


def _unreadable(exc: Exception) -> str:
    """Why Pillow could not open an image, in the caller's terms: its own words name the in-memory file object it
    was given (``<_io.BytesIO object at 0x…>``), which means nothing to whoever sent the bytes."""
    if isinstance(exc, Image.UnidentifiedImageError):
        *others, last = sorted(ALLOWED_FORMATS)
        return f"its bytes are not a {', '.join(others)} or {last} file that can be decoded (a damaged header?)"
    return re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", str(exc)) or type(exc).__name__


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str | None = None) -> ImageInfo:
    """Validate an upload without decoding its pixels; raise a clear error when it is unusable."""
    mime, width, height = check_image(data, max_bytes=max_bytes, max_pixels=max_pixels, field=field)
    return ImageInfo(sha256=sha256_of(data), mime=mime, width=width, height=height, size_bytes=len(data))


def check_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str | None = None) -> tuple[str, int, int]:
    """:func:`inspect_image` without the hash: the MIME type and size of an image that passes every check."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {over_the_limit(len(data), max_bytes)}", field=field)
    mime = sniff_mime(data)
    if mime is None:
        raise BadImage(f"not an accepted image: {_describe(data)}", field=field)
    image = _open(data, max_pixels, field)
    if ALLOWED_FORMATS.get(image.format or "") != mime:
        raise BadImage(f"image bytes look like {mime} but do not parse as one", field=field)
    width, height = image.size
    frames = _frame_count(image, field)
    if frames > 1:
        # Judging one frame would speak for a picture the viewer sees only a moment of.
        raise BadImage(
            f"animated images ({frames} frames) are not judged: send one frame as PNG, JPEG, WebP or GIF", field=field
        )
    if mime == "image/png":
        if not image.tile:
            raise BadImage("image is corrupt or truncated: the PNG has no image data (IDAT)", field=field)
        # Pillow's open() checked the chunks before the image data; the rest are walked here (see _walk_png_chunks).
        image_data = _walk_png_chunks(data, image.tile[0][2] - 8, field)
        _check_png_pixels(data, image_data, field)
    else:
        try:
            image.verify()
        except Exception as exc:
            raise BadImage(f"image is corrupt or truncated: {exc}", field=field) from exc
    if mime == "image/gif":
        _walk_gif_blocks(data, field)
    if mime == "image/jpeg" and b"\xff\xd9" not in data[-64:]:
        raise BadImage("image is truncated: the JPEG end-of-image marker is missing", field=field)
    if mime == "image/jpeg":
        _check_jpeg_scans(data, field)
    if mime == "image/png" and b"IEND" not in data[-16:]:
        raise BadImage("image is truncated: the PNG IEND chunk is missing", field=field)
    # The size a person sees: a phone's portrait photo is stored landscape with an EXIF orientation.
    return (mime, *shown_size(width, height, orientation(image)))


def _frame_count(image: Image.Image, field: str | None) -> int:
    """How many frames ``image`` holds, from its headers: a PNG's animation control chunk and a WebP's header say
    it at open; a GIF is walked past its first frame's data (not decoded) only to see whether another follows, and
    counted to the end only when one does. A JPEG has one."""
    try:
        if not getattr(image, "is_animated", False):
            return 1
        return int(getattr(image, "n_frames", 2))
    except Exception as exc:
        raise BadImage(f"image is corrupt or truncated: {_unreadable(exc)}", field=field) from exc


#: A PNG chunk type: four ASCII letters (Pillow's own test, digits and ``_`` included).
_PNG_CHUNK_TYPE = re.compile(rb"\w\w\w\w")


def _walk_png_chunks(data: bytes, start: int, field: str | None) -> list[memoryview]:
    """Check every chunk from ``start`` (the first image data chunk) to IEND: whole, of a valid type, its CRC right.
    Returns the image data (the IDAT chunks' bodies, in order).

    What Pillow's ``verify()`` checks, refusing the same files, without its copies: it reads each chunk out of a
    file object and checksums it with the stdlib's zlib, whose CRC-32 runs at ~2 GB/s; zlib-ng's folds with
    carry-less multiplication, ~25 times faster, over a view of the bytes. As in Pillow, IEND's own CRC is not read.
    """
    view = memoryview(data)
    size = len(data)
    position = start
    image_data: list[memoryview] = []
    text_after = False
    while True:
        if position + 8 > size:
            raise BadImage("image is corrupt or truncated: truncated PNG file (a chunk header is cut off)", field=field)
        kind = data[position + 4 : position + 8]
        if not _PNG_CHUNK_TYPE.match(kind):
            raise BadImage(f"image is corrupt or truncated: broken PNG file (chunk {kind!r})", field=field)
        if kind == b"IEND":
            # Pillow reads the text after the image data only when it decodes: refused now, as it would be then.
            if text_after and (problem := _png_text_problem(data)):
                raise BadImage(f"image could not be read: {problem}", field=field)
            return image_data
        body_end = position + 8 + int.from_bytes(data[position : position + 4], "big")
        if body_end + 4 > size:
            raise BadImage(
                f"image is corrupt or truncated: truncated PNG file (chunk {kind!r} is cut off)", field=field
            )
        # The CRC covers the chunk's type and data, which lie side by side.
        if crc32(view[position + 4 : body_end]) != int.from_bytes(data[body_end : body_end + 4], "big"):
            raise BadImage(f"image is corrupt or truncated: broken PNG file (bad checksum in {kind!r})", field=field)
        if kind == b"IDAT":
            image_data.append(view[position + 8 : body_end])
        text_after = text_after or kind in _PNG_TEXT_CHUNKS
        position = body_end + 4


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """A PNG's chunks as (type, where its body starts, its length), from the first to IEND or to where the file
    stops making sense."""
    position = 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"IEND" or position + 12 + length > len(data):
            return
        yield kind, position + 8, length
        position += 12 + length


#: Channels a pixel of each PNG colour type has (greyscale, RGB, palette, grey with alpha, RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: The seven passes of an Adam7-interlaced PNG: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
#: The most bytes deflate can pack into one (a 258-byte match in two bits): zlib's own bound.
DEFLATE_MOST_RATIO = 1032


def _png_data_size(data: bytes) -> int:
    """The bytes a PNG's image data inflates to when every row is there: a filter byte and the packed pixels of
    each row, of each interlace pass."""
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour, interlace = data[24], data[25], data[28]
    bits = _PNG_CHANNELS.get(colour, 4) * depth
    if interlace != 1:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for left, top, across, down in _ADAM7:
        columns, rows = -(-(width - left) // across), -(-(height - top) // down)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _check_png_pixels(data: bytes, image_data: list[memoryview], field: str | None) -> None:
    """Refuse a PNG whose image data is too short to hold its pixels. Pillow's decoder takes the end of the
    compressed stream as the end of the picture and leaves the rows it never got black, with no error
    (LOAD_TRUNCATED_IMAGES covers only a file that runs out, not a stream that ends early): a 97-byte PNG declaring
    6000×6000 was judged as a dark, blank picture.

    Deflate packs at most DEFLATE_MOST_RATIO bytes into one, so image data shorter than that share of what the
    header requires cannot hold every row: found for the cost of a sum. Counting the inflated bytes would find a
    stream that ends early at any length, but inflating every PNG once more cost ~3 ms per 1024² image, on every
    upload, every decode and every image the gateway delivers; a stream cut short at an ordinary length is a
    crafted file, whose missing rows the judges see as a black band."""
    expected = _png_data_size(data)
    compressed = sum(len(chunk) for chunk in image_data)
    if compressed * DEFLATE_MOST_RATIO >= expected:
        return
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    raise BadImage(
        f"image is truncated: its pixel data is incomplete (the PNG's image data is {format_size(compressed)}, "
        f"too little to hold the {width:,}×{height:,} pixels its header declares; the rest would be decoded as "
        "black)",
        field=field,
    )


#: A marker in a JPEG's entropy-coded data: 0xFF not followed by a stuffed zero or a restart marker.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
#: Start-of-frame markers of the progressive processes (the others are sequential).
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}


def _check_jpeg_scans(data: bytes, field: str | None) -> None:
    """Refuse a JPEG whose scans stop before every component's every coefficient is sent in full. A progressive
    JPEG cut short and given an end marker decodes without an error to a blurred or colourless picture (the scans
    that would refine it are missing); a sequential one that never sends a component decodes it flat. Only the
    marker segments are read (the entropy-coded data is skipped by a search for the next marker). A sequential JPEG
    cut within its one scan is found after decoding, by the grey its missing blocks decode to."""
    position = 2
    size = len(data)
    components: list[int] = []
    progressive = False
    #: For each component, the coefficients (0-63) sent to their last bit.
    finished: dict[int, set[int]] = {}
    while position + 4 <= size:
        if data[position] != 0xFF:
            return  # not a marker where one belongs: Pillow's decode speaks for a damaged file
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1  # fill byte
            continue
        if marker == 0xD9:
            break
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        position += 2 + length
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(segment) >= 6:
            progressive = marker in _JPEG_PROGRESSIVE
            components = [segment[6 + 3 * i] for i in range(segment[5]) if 6 + 3 * i < len(segment)]
            finished = {component: set() for component in components}
        elif marker == 0xDA and segment:
            count = segment[0]
            if len(segment) < 1 + 2 * count + 3:
                return
            first, last, approximation = segment[1 + 2 * count : 4 + 2 * count]
            if not progressive:
                first, last, approximation = 0, 63, 0
            if approximation & 0x0F == 0:
                for component in segment[1 : 1 + 2 * count : 2]:
                    finished.setdefault(component, set()).update(range(first, last + 1))
            if components and all(len(finished.get(component, ())) == 64 for component in components):
                return  # complete already (a sequential JPEG's one scan): its data need not be searched through
            found = _JPEG_MARKER.search(data, position)
            if found is None:
                return
            position = found.start()
    missing = [component for component in components if len(finished.get(component, ())) < 64]
    if not components or not missing:
        return
    if progressive:
        detail = (
            "the progressive JPEG's scans stop before its picture is complete, so it would decode blurred or "
            "without colour"
        )
    else:
        detail = "the JPEG's scans never send some of its colour components"
    raise BadImage(f"image is truncated: its pixel data is incomplete ({detail}; a file cut short?)", field=field)


def _walk_gif_blocks(data: bytes, field: str | None) -> None:
    """Check a GIF's blocks are whole up to its trailer (or to the end of its last image, as some encoders leave
    the trailer off). Pillow opens a GIF from its first image's header and reads no further until it decodes: a
    GIF cut in half passed the upload and was refused only when the judges decoded it."""
    size = len(data)
    position = 13
    if data[10] & 0x80:
        position += 3 << ((data[10] & 7) + 1)
    images = 0
    while True:
        if position >= size:
            if images:
                return
            raise BadImage("image is truncated: the GIF ends before its image data", field=field)
        kind = data[position]
        if kind == 0x3B:
            if not images:
                raise BadImage("image is corrupt: the GIF holds no image", field=field)
            return
        if kind == 0x21:
            position += 2
        elif kind == 0x2C:
            if position + 10 > size:
                break
            packed = data[position + 9]
            position += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1  # and the LZW code size
            images += 1
        else:
            position += 1  # a stray byte between blocks, which Pillow steps over too
            continue
        # Sub-blocks, each a length byte and that many bytes, up to a zero length.
        while position < size and data[position]:
            position += 1 + data[position]
        if position >= size:
            break
        position += 1
    raise BadImage(
        "image is truncated: its pixel data is incomplete (the GIF's data is cut off part way through)", field=field
    )


def sha256_of(data: bytes) -> str:
    """The id of an image: the hex SHA-256 of its bytes (hashlib lets other threads run while it hashes)."""
    return hashlib.sha256(data).hexdigest()


#: Pillow's modes for one channel of more than 8 bits (a 16-bit greyscale PNG opens as I;16).
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
#: libjpeg decodes the missing part of a JPEG cut short as exactly this grey (all-zero coefficients).
JPEG_FILL_GREY = 128
#: The smallest band of that grey counted as missing data: one row of 8×8 blocks.
JPEG_FILL_MIN_ROWS = 8
#: The tallest row of blocks (16 px with chroma subsampling), above the grey, where a decoder stopped part way.
JPEG_BLOCK_ROW = 17
#: Rows of that block row that must end at the same column (a row of 8×8 blocks, less the one that chroma
#: upsampling can blur).
JPEG_STOPPED_ROWS = 7


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
    stops: list[tuple[int, int]] = []
    top = max(0, first - JPEG_BLOCK_ROW)
    for index, row in enumerate(grey[top:first], start=top):
        # Where this row's trailing run of fill grey starts: a partly decoded row of blocks ends in one.
        start = width - int(np.argmin(row[::-1])) if not row.all() else 0
        if 0 < start <= width - JPEG_FILL_MIN_ROWS:
            stops.append((index, start))
    if len(stops) < JPEG_STOPPED_ROWS:
        return 0
    # The rows of one row of blocks stop at the same column (chroma upsampling moves an edge by a pixel) ...
    middle = int(np.median([start for _, start in stops]))
    same = [index for index, start in stops if abs(start - middle) <= 1]
    if len(same) < JPEG_STOPPED_ROWS:
        return 0
    # ... below rows the decoder finished, which are the picture right across: a grey backdrop beside a subject
    # with a straight edge stops at one column too, but its grey goes on up beside the subject.
    above = grey[max(0, min(same) - JPEG_FILL_MIN_ROWS) : min(same), middle + 1 :]
    return missing if above.size and np.count_nonzero(above) * 2 < above.size else 0


def _load(image: Image.Image) -> None:
    try:
        image.seek(0)
        image.load()
    except Exception as exc:
        words = str(exc)
        if "MAX_TEXT" in words:
            raise BadImage(
                "image could not be decoded: the PNG holds a text chunk that expands past what is read of one "
                "(drop or shorten its metadata)"
            ) from exc
        if "truncated" in words or "broken data stream" in words or "incomplete" in words:
            # Pillow's "image file is truncated (58 bytes not processed)" counts bytes of its own read buffer.
            raise BadImage(
                f"image could not be decoded: its pixel data is incomplete (the {image.format or 'image'}'s data "
                "ends before its last row: the file is truncated)"
            ) from exc
        raise BadImage(f"image could not be decoded: {_unreadable(exc)}") from exc


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """A loaded image (or a crop of one) as HxWx3 uint8: alpha composited on white, 16-bit scaled."""
    if image.mode in WIDE_GREY_MODES:
        return _wide_grey_to_rgb(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    # An RGB image is read as it is: converting it to RGB first would copy every pixel once more for nothing.
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _refuse_cut_jpeg(rgb: np.ndarray, scale: int = 1) -> None:
    missing = _missing_jpeg_rows(rgb)
    if missing:
        height = rgb.shape[0]
        raise BadImage(
            f"image is truncated: the JPEG's data ends early and its last {missing * scale} of {height * scale} rows "
            f"({missing / height:.0%}) are the flat grey a decoder fills in for missing data"
        )


def decode_rgb(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Fully decode to an HxWx3 uint8 array (alpha composited on white; 16-bit scaled; an animated image, refused
    at intake, as its first frame)."""
    image = _open(data, max_pixels, None)
    _refuse_incomplete_png(image, data)
    _load(image)
    rgb = _to_rgb(image)
    if image.format == "JPEG" or data.startswith(b"\xff\xd8\xff"):
        _refuse_cut_jpeg(rgb)
    return upright_array(rgb, orientation(image))


#: Longest-lived bytes a full decode holds per pixel: Pillow's own buffer (4 bytes a pixel even for RGB) and the
#: array copied from it.
DECODE_BYTES_PER_PIXEL = 7
#: The same with an alpha channel composited on white at full size (RGBA, white backdrop, composite, RGB).
DECODE_ALPHA_BYTES_PER_PIXEL = 19
#: Bytes a pixel of Pillow's own buffer takes, by mode (everything of three or four channels takes four).
PILLOW_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "LA": 4, "PA": 4}
#: What a reduced decode holds per pixel besides Pillow's buffer: the reduced copy, the full-resolution lines and
#: the strip being converted (measured 1.4-1.9 on 6300² images of every mode).
REDUCED_EXTRA_BYTES_PER_PIXEL = 2
#: Peak bytes a pixel of a WebP decode. Pillow's WebP plugin decodes through libwebp's animation decoder, which
#: holds two full RGBA canvases, hands the frame over as a copy and Pillow copies that into its image: 16 bytes a
#: pixel (a 1.5 KB WebP of 6300² peaked at 611 MiB). OpenCV's decode of the same libwebp, to the very same pixels,
#: holds its output and, for a lossless image, libwebp's own full-size ARGB: at most 8 (measured 6.0 for opaque
#: lossy and flat lossless, 7.1 lossless, 8.1 lossless with alpha, 4000² and 6300²).
WEBP_DECODE_BYTES_PER_PIXEL = 8
#: The same for an animated WebP (refused at intake, so only ever decoded from elsewhere): OpenCV composites its
#: first frame through libwebp's animation decoder, as Pillow does (measured 11.2 on a 6300² one).
WEBP_ANIMATED_DECODE_BYTES_PER_PIXEL = 12
#: Largest full-resolution centre crop kept of an image analysed on a reduced copy: noise and JPEG blocking are
#: pixel-level measures, read on the pixels as delivered.
DETAIL_PIXELS = 2_000_000
#: Pixels of the full-size image converted at a time when a reduced copy is made (whole rows, rounded to the
#: reduction). A strip is copied several times over (crop, RGB, Pillow's image of it, luminance): counted in rows,
#: a strip of a 16383-px-wide image was 4 megapixels.
STRIP_PIXELS = 1_000_000
#: The full-resolution lines kept for the seam measure: every this many rows, and columns.
LINE_STEP = 8


@dataclass(frozen=True)
class Decoded:
    """An image's pixels as the judges read them.

    ``rgb`` is the whole image at full size, or, past the analysis limit, a box-averaged copy reduced by a whole
    factor; then ``detail`` (a full-resolution centre crop) and ``rows``/``columns`` (every 8th full-resolution
    row and column) keep what pixel-level measures need.
    """

    rgb: np.ndarray
    #: The size as delivered, whatever ``rgb``'s.
    width: int
    height: int
    detail: np.ndarray | None = None
    #: Luminance (Pillow's "L", ITU-R 601) of every LINE_STEP-th row, full width (H/8 × W).
    rows: np.ndarray | None = None
    #: Luminance of every LINE_STEP-th column, full height (H × W/8).
    columns: np.ndarray | None = None

    @property
    def reduced(self) -> bool:
        return self.detail is not None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rgb, self.detail, self.rows, self.columns) if a is not None)


def reduction_factor(width: int, height: int, analysis_pixels: int | None) -> int:
    """The smallest whole factor that brings ``width``×``height`` within ``analysis_pixels`` (1: no reduction)."""
    if analysis_pixels is None or width * height <= analysis_pixels:
        return 1
    return max(2, math.ceil(math.sqrt(width * height / analysis_pixels)))


def decode_cost(
    width: int,
    height: int,
    *,
    alpha: bool,
    factor: int,
    webp: bool = False,
    animated: bool = False,
    mode: str = "RGB",
) -> int:
    """Bytes a decode of this image holds at its peak, reserved from the decode budget before it starts.

    ``mode`` is the mode Pillow opens the image in (its buffer is 1, 2 or 4 bytes a pixel); a WebP is decoded by
    OpenCV (see :func:`_decode_webp`), whose peak is its decode itself.
    """
    pixels = width * height
    if webp:
        per_pixel = WEBP_ANIMATED_DECODE_BYTES_PER_PIXEL if animated else WEBP_DECODE_BYTES_PER_PIXEL
        return pixels * per_pixel + (DETAIL_PIXELS * 3 if factor > 1 else 0)
    if factor > 1:
        held = PILLOW_BYTES_PER_PIXEL.get(mode, 4) + REDUCED_EXTRA_BYTES_PER_PIXEL
        return pixels * held + DETAIL_PIXELS * 3
    return pixels * (DECODE_ALPHA_BYTES_PER_PIXEL if alpha else DECODE_BYTES_PER_PIXEL)


def _centre_crop(width: int, height: int) -> tuple[int, int, int, int]:
    """A centre box of at most DETAIL_PIXELS with the image's aspect, on the 8-px grid (a JPEG's blocks), inside the
    image (a side under 8 px is taken whole: a box past the image's edge was filled with black by Pillow)."""
    share = min(1.0, math.sqrt(DETAIL_PIXELS / (width * height)))
    crop_w = min(width, max(8, int(width * share) // 8 * 8))
    crop_h = min(height, max(8, int(height * share) // 8 * 8))
    left, top = (width - crop_w) // 2 // 8 * 8, (height - crop_h) // 2 // 8 * 8
    return left, top, left + crop_w, top + crop_h


#: Pixels as decoded: a loaded Pillow image, or an RGB or RGBA array (a WebP, see :func:`_decode_webp`).
Pixels = Image.Image | np.ndarray


def _decode_webp(data: bytes) -> np.ndarray:
    """A WebP's first frame as an RGB array, or RGBA when it has alpha, decoded by OpenCV: the same libwebp
    decode to the same pixels as Pillow's, at half its memory or less (see WEBP_DECODE_BYTES_PER_PIXEL). The
    orientation is applied by the caller, from the EXIF that Pillow reads."""
    # Imported here: the API process checks uploads without decoding them, and need not load OpenCV (~19 MB).
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None or decoded.ndim != 3 or decoded.dtype != np.uint8:
        raise BadImage("image could not be decoded: the WebP data is damaged or cut short")
    # In place: a converted copy would hold a second full-size array.
    return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB, dst=decoded)


def _size(pixels: Pixels) -> tuple[int, int]:
    if isinstance(pixels, Image.Image):
        return pixels.size
    return pixels.shape[1], pixels.shape[0]


def _region_rgb(pixels: Pixels, box: tuple[int, int, int, int]) -> np.ndarray:
    """A box of the decoded pixels as HxWx3 uint8 (alpha composited on white, 16-bit scaled), as a new array."""
    if isinstance(pixels, Image.Image):
        return _to_rgb(pixels.crop(box))
    left, top, right, bottom = box
    region = pixels[top:bottom, left:right]
    if region.shape[2] == 3:
        return region.copy()
    # Pillow composites, as for every other format, so a transparent WebP comes out as a transparent PNG does.
    return _to_rgb(Image.fromarray(np.ascontiguousarray(region), "RGBA"))


def _whole_rgb(pixels: Pixels) -> np.ndarray:
    """All the decoded pixels as HxWx3 uint8; an RGB array is the pixels themselves, an RGBA one is composited
    a strip at a time so only the RGB result is held besides it."""
    if isinstance(pixels, Image.Image):
        return _to_rgb(pixels)
    if pixels.shape[2] == 3:
        return pixels
    width, height = _size(pixels)
    rgb = np.empty((height, width, 3), np.uint8)
    rows = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        rgb[top:bottom] = _region_rgb(pixels, (0, top, width, bottom))
    return rgb


def _strips(pixels: Pixels, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """The decoded pixels as RGB strips of whole rows, each a multiple of ``step`` rows high (but the last), with
    the row each starts at: what a reduced copy is made from without a full-size RGB copy."""
    width, height = _size(pixels)
    rows = max(step, STRIP_PIXELS // width // step * step)
    for top in range(0, height, rows):
        yield top, _region_rgb(pixels, (0, top, width, min(height, top + rows)))


def _reduced_rgb(pixels: Pixels, factor: int) -> np.ndarray:
    """The decoded pixels box-averaged down by ``factor``, made a strip at a time."""
    width, height = _size(pixels)
    rgb = np.empty((math.ceil(height / factor), math.ceil(width / factor), 3), np.uint8)
    for top, strip in _strips(pixels, factor):
        reduced = np.asarray(Image.fromarray(strip).reduce(factor))
        rgb[top // factor : top // factor + reduced.shape[0]] = reduced
    return rgb


def _decode_reduced(pixels: Pixels, factor: int, jpeg: bool) -> Decoded:
    """Decoded full-size pixels as a reduced copy plus full-resolution samples, converted a strip at a time so
    that besides the decoded pixels only a few MB are held at once (and the results, made in place)."""
    width, height = _size(pixels)
    step = LINE_STEP * factor
    rgb = np.empty((math.ceil(height / factor), math.ceil(width / factor), 3), np.uint8)
    rows = np.empty((math.ceil(height / LINE_STEP), width), np.uint8)
    columns = np.empty((height, math.ceil(width / LINE_STEP)), np.uint8)
    for top, strip in _strips(pixels, step):
        piece = Image.fromarray(strip)
        del strip
        luma = np.asarray(piece.convert("L"))
        rows[top // LINE_STEP : top // LINE_STEP + math.ceil(luma.shape[0] / LINE_STEP)] = luma[::LINE_STEP]
        columns[top : top + luma.shape[0]] = luma[:, ::LINE_STEP]
        reduced = np.asarray(piece.reduce(factor))
        rgb[top // factor : top // factor + reduced.shape[0]] = reduced
        del piece, luma, reduced
    if jpeg:
        _refuse_cut_jpeg(rgb, factor)
    detail = _region_rgb(pixels, _centre_crop(width, height))
    return Decoded(rgb, width, height, detail, rows, columns)


def decode_image(data: bytes, *, max_pixels: int, analysis_pixels: int | None = None) -> Decoded:
    """Decode for the judges: at full size up to ``analysis_pixels``, past it a reduced copy and full-size
    samples (see :class:`Decoded`)."""
    image = _open(data, max_pixels, None)
    factor = reduction_factor(image.width, image.height, analysis_pixels)
    jpeg = image.format == "JPEG" or data.startswith(b"\xff\xd8\xff")
    turn = orientation(image)
    pixels = _decoded_pixels(image, data)
    if factor == 1:
        width, height = _size(pixels)
        rgb = _whole_rgb(pixels)
        del pixels
        if jpeg:
            _refuse_cut_jpeg(rgb)  # on the rows as stored: a cut JPEG lacks its last ones
        return _upright(Decoded(rgb, width, height), turn)
    return _upright(_decode_reduced(pixels, factor, jpeg), turn)


def _decoded_pixels(image: Image.Image, data: bytes) -> Pixels:
    """The pixels of an opened image: a WebP's decoded by OpenCV (Pillow's decode holds twice the memory and
    more), any other format's loaded by Pillow."""
    if image.format == "WEBP":
        _let_go(image)
        return _decode_webp(data)
    _refuse_incomplete_png(image, data)
    _load(image)
    return image


def _refuse_incomplete_png(image: Image.Image, data: bytes) -> None:
    """At decode too, a PNG whose image data ends early is refused rather than judged with its missing rows black
    (an image stored before the upload check refused such files, or decoded without it)."""
    if image.format != "PNG":
        return
    view = memoryview(data)
    try:
        _check_png_pixels(
            data, [view[start : start + length] for kind, start, length in _png_chunks(data) if kind == b"IDAT"], None
        )
    except BadImage as exc:
        # In the words of every other decode failure ("image is truncated: …" is the upload's).
        raise BadImage(f"image could not be decoded: {exc.message.split(': ', 1)[1]}") from exc


def _let_go(image: Image.Image) -> None:
    """Free what an opened WebP holds before its pixels are decoded elsewhere: Pillow's WebP plugin keeps a copy of
    the file and libwebp's decoder (with its canvases) until the image object is gone, which its callers' names
    would otherwise keep alive through the decode."""
    image.close()
    if hasattr(image, "_decoder"):
        image._decoder = None


def _upright(decoded: Decoded, turn: int) -> Decoded:
    """``decoded`` as the picture is shown (its EXIF orientation applied; see sentinel.store.orientation). Turned
    sideways, the sampled full-resolution rows become the shown picture's columns and the other way round."""
    if turn == 1:
        return decoded
    rows, columns = (decoded.columns, decoded.rows) if sideways(turn) else (decoded.rows, decoded.columns)
    return Decoded(
        upright_array(decoded.rgb, turn),
        *shown_size(decoded.width, decoded.height, turn),
        detail=None if decoded.detail is None else upright_array(decoded.detail, turn),
        rows=None if rows is None else upright_array(rows, turn),
        columns=None if columns is None else upright_array(columns, turn),
    )


def draft_scale(width: int, height: int, analysis_pixels: int | None) -> int:
    """How much smaller libjpeg decodes a JPEG in draft mode for ``analysis_pixels``: 1, 2, 4 or 8."""
    factor = reduction_factor(width, height, analysis_pixels)
    return min(8, 2 ** int(math.log2(factor)))


def preview_rgb(data: bytes, *, max_pixels: int, analysis_pixels: int) -> np.ndarray:
    """The whole image at no more than about ``analysis_pixels``, for measures that do not need full size.

    A JPEG is decoded straight at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, Pillow's draft mode), so its
    full-size pixels are never held; other formats are decoded and box-averaged down a strip at a time.
    """
    image = _open(data, max_pixels, None)
    scale = draft_scale(image.width, image.height, analysis_pixels)
    if scale > 1 and image.format == "JPEG":
        image.draft("RGB", (math.ceil(image.width / scale), math.ceil(image.height / scale)))
    turn = orientation(image)
    pixels = _decoded_pixels(image, data)
    width, height = _size(pixels)
    factor = reduction_factor(width, height, analysis_pixels)
    return upright_array(_whole_rgb(pixels) if factor == 1 else _reduced_rgb(pixels, factor), turn)


class DecodeBudget:
    """Bytes the decodes of this process may hold at once: each reserves its estimated peak before it starts,
    waits (bounded) while others hold the room, and returns it when done."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self._used = 0
        self._changed = threading.Condition()

    @property
    def used_bytes(self) -> int:
        with self._changed:
            return self._used

    @contextmanager
    def reserve(self, amount: int, timeout: float) -> Iterator[None]:
        # A decode larger than the whole budget runs alone rather than never.
        amount = min(amount, self.total_bytes)
        with self._changed:
            if not self._changed.wait_for(lambda: self._used + amount <= self.total_bytes, timeout):
                raise DecodeBusy(
                    f"the server is decoding other large images: this one needs {format_size(amount)} of the "
                    f"{format_size(self.total_bytes)} decode budget, and none came free within {timeout:g} s"
                )
            self._used += amount
        try:
            yield
        finally:
            with self._changed:
                self._used -= amount
                self._changed.notify_all()


def release_to_os() -> None:
    """Hand freed heap pages back to the OS: glibc keeps large freed chunks of a busy arena mapped, so a process
    that decoded a big image would otherwise stay at its peak resident size."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_malloc_trim = _find_malloc_trim()
#: Decodes at least this large are followed by a malloc_trim, and so is the end of the work that used them.
TRIM_AFTER_BYTES = 64 * 1024 * 1024
#: How long a process's work must stay run out before the heap its decodes freed goes back to the OS. Under load
#: the next message comes within milliseconds: trimming at every gap handed back ~6 MB a 1024² evaluation (1,000-
#: 1,500 page faults, and the trim's walk of every arena) only for the next decode to fault it all in again.
IDLE_TRIM_AFTER_SECONDS = 1.0
_trim_lock = threading.Lock()
#: Signalled when work starts or runs out (the idle trimmer waits on it).
_work_changed = threading.Condition(_trim_lock)
#: Pieces of work (judge messages) running now in a ``releasing_memory`` block.
_active_work = 0
#: Whether an image was decoded since the last trim: the process trims once its work has stayed run out a while.
_decoded_since_trim = False
#: Whether a large decode happened since the process was last idle: until then, each finished piece of work trims.
_large_since_idle = False
#: When (``time.monotonic()``) the idle trim is due; None while work runs or nothing waits to be handed back.
_trim_due: float | None = None
_idle_trimmer: threading.Thread | None = None


def _note_decode(cost: int) -> None:
    global _decoded_since_trim, _large_since_idle
    with _trim_lock:
        _decoded_since_trim = True
        _large_since_idle = _large_since_idle or cost >= TRIM_AFTER_BYTES


def _trim_when_idle() -> None:
    """The idle trimmer's loop: once the work has stayed run out until the trim is due, trim."""
    global _trim_due, _decoded_since_trim
    while True:
        with _work_changed:
            while _trim_due is None or _trim_due > time.monotonic():
                _work_changed.wait(None if _trim_due is None else _trim_due - time.monotonic())
            _trim_due = None
            _decoded_since_trim = False
        release_to_os()


def _schedule_idle_trim() -> None:
    """With ``_trim_lock`` held: trim in IDLE_TRIM_AFTER_SECONDS unless work starts again before."""
    global _trim_due, _idle_trimmer
    _trim_due = time.monotonic() + IDLE_TRIM_AFTER_SECONDS
    # A forked worker process inherits the module but not the thread (is_alive() is False in the child).
    if _idle_trimmer is None or not _idle_trimmer.is_alive():
        _idle_trimmer = threading.Thread(target=_trim_when_idle, name="sentinel-idle-trim", daemon=True)
        _idle_trimmer.start()
    _work_changed.notify_all()


@contextmanager
def releasing_memory() -> Iterator[None]:
    """Around a piece of work that decodes images (a judge message). Once the process's work has stayed run out
    for IDLE_TRIM_AFTER_SECONDS, the pages its freed arrays held go back to the OS: each worker thread's heap
    otherwise keeps its high-water mark (after a dozen 1024² evaluations four threads at once held ~400 MB more
    than after the first). While large images are being judged, every finished piece of work trims at once. A
    process under steady load of small images does not trim, since its heap is about to be used again."""
    global _active_work, _decoded_since_trim, _large_since_idle, _trim_due
    with _trim_lock:
        _active_work += 1
        _trim_due = None
    try:
        yield
    finally:
        with _trim_lock:
            _active_work -= 1
            idle = _active_work == 0
            large = _large_since_idle
            if idle:
                _large_since_idle = False
                if large:
                    _decoded_since_trim = False
                elif _decoded_since_trim:
                    _schedule_idle_trim()
        if large and idle:
            # The large decodes were kept so the judges of their evaluation share them; with no work left, a
            # process at rest holds no more than its small images.
            decoded_pixels.drop_reduced()
        if large:
            release_to_os()


class DecodedCache:
    """An LRU of decoded pixels keyed by content hash, shared by a worker's threads, bounded in bytes.

    An entry larger than ``max_entry_share`` of the bound is returned but not kept. One decode of an image runs at
    a time: threads asking for an image being decoded wait for that decode instead of starting their own.
    """

    def __init__(
        self,
        max_bytes: int = 64 * 1024 * 1024,
        *,
        max_entry_share: float = 0.5,
        budget_bytes: int = 256 * 1024 * 1024,
        wait_seconds: float = 60.0,
        analysis_pixels: int | None = 6_000_000,
    ) -> None:
        self.configure(
            max_bytes=max_bytes,
            max_entry_share=max_entry_share,
            budget_bytes=budget_bytes,
            wait_seconds=wait_seconds,
            analysis_pixels=analysis_pixels,
        )
        self._entries: OrderedDict[str, Decoded] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._decoding: dict[str, threading.Lock] = {}

    def configure(
        self,
        *,
        max_bytes: int,
        max_entry_share: float = 0.5,
        budget_bytes: int,
        wait_seconds: float,
        analysis_pixels: int | None,
    ) -> None:
        """Apply the process's settings (the API and workers call this once when they build their services)."""
        self.max_bytes = max_bytes
        self.max_entry_share = max_entry_share
        self.budget = DecodeBudget(budget_bytes)
        self.wait_seconds = wait_seconds
        self.analysis_pixels = analysis_pixels

    @property
    def total_bytes(self) -> int:
        """Bytes of pixels the cache holds now."""
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def drop_reduced(self) -> None:
        """Forget the images kept as reduced copies (those past the analysis limit)."""
        with self._lock:
            for sha256 in [key for key, decoded in self._entries.items() if decoded.reduced]:
                self._bytes -= self._entries.pop(sha256).nbytes

    def holds(self, sha256: str) -> bool:
        """Whether the pixels of ``sha256`` are kept now."""
        with self._lock:
            return sha256 in self._entries

    def forget(self, sha256: str) -> None:
        """Stop keeping the pixels of ``sha256`` (readers holding them keep their copy)."""
        with self._lock:
            dropped = self._entries.pop(sha256, None)
            if dropped is not None:
                self._bytes -= dropped.nbytes

    def _cached(self, sha256: str) -> Decoded | None:
        with self._lock:
            cached = self._entries.get(sha256)
            if cached is not None:
                self._entries.move_to_end(sha256)
            return cached

    def get_or_decode(self, sha256: str, load_bytes: Callable[[], bytes], max_pixels: int) -> Decoded:
        cached = self._cached(sha256)
        if cached is not None:
            return cached
        with self._lock:
            decoding = self._decoding.setdefault(sha256, threading.Lock())
        try:
            with decoding:
                cached = self._cached(sha256)
                if cached is not None:
                    return cached
                decoded = self._decode(load_bytes(), max_pixels)
                self._keep(sha256, decoded)
                return decoded
        finally:
            with self._lock:
                if not decoding.locked():
                    self._decoding.pop(sha256, None)

    def _decode(self, data: bytes, max_pixels: int) -> Decoded:
        header = _open(data, max_pixels, None)
        factor = reduction_factor(header.width, header.height, self.analysis_pixels)
        cost = decode_cost(
            header.width,
            header.height,
            alpha=_has_alpha(header),
            factor=factor,
            webp=header.format == "WEBP",
            animated=bool(getattr(header, "is_animated", False)),
            mode=header.mode,
        )
        if factor == 1 and orientation(header) != 1:
            cost += header.width * header.height * 3  # the upright copy of the pixels
        _let_go(header)
        try:
            with self.budget.reserve(cost, self.wait_seconds):
                decoded = decode_image(data, max_pixels=max_pixels, analysis_pixels=self.analysis_pixels)
        finally:
            if cost >= TRIM_AFTER_BYTES:
                release_to_os()
            _note_decode(cost)
        for array in (decoded.rgb, decoded.detail, decoded.rows, decoded.columns):
            if array is not None:
                array.setflags(write=False)
        return decoded

    def preview(self, data: bytes, max_pixels: int) -> np.ndarray:
        """:func:`preview_rgb` within the decode budget (not cached: the judges decode what they need)."""
        header = _open(data, max_pixels, None)
        width, height, alpha = header.width, header.height, _has_alpha(header)
        scale = draft_scale(width, height, self.analysis_pixels) if header.format == "JPEG" else 1
        width, height = math.ceil(width / scale), math.ceil(height / scale)
        factor = reduction_factor(width, height, self.analysis_pixels)
        # Past the analysis limit the preview is reduced a strip at a time, as the judges' copy is (less its
        # full-resolution samples, which the estimate for that includes).
        cost = decode_cost(
            width,
            height,
            alpha=alpha,
            factor=factor,
            webp=header.format == "WEBP",
            animated=bool(getattr(header, "is_animated", False)),
            mode=header.mode,
        )
        _let_go(header)
        try:
            with self.budget.reserve(cost, self.wait_seconds):
                return preview_rgb(data, max_pixels=max_pixels, analysis_pixels=self.analysis_pixels or width * height)
        finally:
            if cost >= TRIM_AFTER_BYTES:
                release_to_os()

    def _keep(self, sha256: str, decoded: Decoded) -> None:
        size = decoded.nbytes
        if size > self.max_bytes * self.max_entry_share:
            return
        with self._lock:
            if sha256 in self._entries:
                return
            self._entries[sha256] = decoded
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes


#: Process-wide cache; judges of one evaluation in one worker share the decode.
decoded_pixels = DecodedCache()
