"""What an edit mask marks, read one way everywhere (the checks at intake, the providers' conversions, a task's
inverted masks, the edit judges): a mask with any pixel that is not fully opaque is read by its alpha (fully
transparent = marked, whatever its colour; half-transparent and opaque pixels mark nothing, white or not), a fully
opaque one (or one without alpha) by its brightness (white = marked: above :data:`WHITE_THRESHOLD`, a 16-bit grey
scaled to 8 bits first). OpenAI reads only alpha, so an opaque mask there marks nothing; here it is read by
brightness, and one that marks nothing is refused up front rather than edited into a copy of its source.

:func:`coverage` is the rule as pixels; every reader that needs the region (not just whether there is one) takes
it from there."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sentinel.errors import InvalidInput
from sentinel.store.images import WIDE_GREY_MODES
from sentinel.store.orientation import orientation, upright_array

#: Brightness above which a pixel of an opaque mask is in the region (white = change).
WHITE_THRESHOLD = 127
#: What marks the region, as the refusals say it.
MASK_RULE = (
    "white pixels of an opaque mask mark it, or fully transparent pixels of a mask with transparency "
    "(read by its alpha, as OpenAI's masks are)"
)


def used_alpha(image: Image.Image) -> Image.Image | None:
    """The mask's alpha channel when it has one with any pixel not fully opaque (the mask is then read by it)."""
    if "A" not in image.getbands() and not (image.mode == "P" and "transparency" in image.info):
        return None
    # Read in place when the mode has the channel (a copy of a 4096² RGBA mask costs tens of ms).
    alpha = (
        image.getchannel("A") if image.mode in ("RGBA", "LA", "RGBa", "La") else image.convert("RGBA").getchannel("A")
    )
    return alpha if alpha.getextrema()[0] < 255 else None


def _wide_to_8_bits(values: np.ndarray | int) -> np.ndarray | int:
    """16-bit grey levels scaled to 8 bits, as the judges decode them (Pillow's own conversion clips every value
    above 255 to white, which would make a dark 16-bit grey mark the region)."""
    return (np.clip(values, 0, 65535) * 255 + 32767) // 65535


def coverage(image: Image.Image) -> np.ndarray:
    """How much each pixel of a loaded mask lies in the region it marks, 0-255 (rows first, as stored): read by its
    alpha, 255 where fully transparent and 0 elsewhere; opaque, its brightness (Pillow's "L", ITU-R 601), so the
    pixels above WHITE_THRESHOLD are the region and an anti-aliased edge keeps its shades for readers that blend."""
    alpha = used_alpha(image)
    if alpha is not None:
        return np.where(np.asarray(alpha) == 0, 255, 0).astype(np.uint8)
    if image.mode in WIDE_GREY_MODES:
        return np.asarray(_wide_to_8_bits(np.asarray(image).astype(np.int64))).astype(np.uint8)
    return np.asarray(image.convert("L"))


def read_coverage(mask: bytes, upright: bool = True) -> np.ndarray:
    """:func:`coverage` of mask bytes; ``upright``: as the picture is shown (its EXIF orientation applied), as the
    judges see its source."""
    with Image.open(io.BytesIO(mask)) as image:
        image.load()
        pixels = coverage(image)
        return upright_array(pixels, orientation(image)) if upright else pixels


def marked_region(mask: bytes) -> np.ndarray:
    """The region a mask marks, as a boolean array of its height × width (as stored)."""
    return read_coverage(mask, upright=False) > WHITE_THRESHOLD


def marked_extent(mask: bytes) -> tuple[bool, bool, bool]:
    """Whether the mask marks any pixel, whether it marks every pixel, and whether it was read by its alpha. From
    the channel's extremes alone (no pixel array is made): cheap enough for every upload."""
    with Image.open(io.BytesIO(mask)) as image:
        image.load()
        alpha = used_alpha(image)
        if alpha is not None:
            low, high = alpha.getextrema()
            return low == 0, high == 0, True
        if image.mode in WIDE_GREY_MODES:
            low, high = (int(_wide_to_8_bits(int(v))) for v in image.getextrema())
        else:
            low, high = image.convert("L").getextrema()
        return high > WHITE_THRESHOLD, low > WHITE_THRESHOLD, False


def check_marks_region(mask: bytes, marks: str = "change", judged: bool = False, field: str = "mask") -> None:
    """Refuse (400 naming ``field``) a mask that marks no pixel: an edit under it can only return the source, and
    the edit judges fail it whatever is made. ``marks`` is what the mask's white marks (a rubric's ``mask_marks``:
    ``change``, or ``keep`` the subject); ``judged``: the result is judged against the mask, so one that marks every
    pixel (no area outside it to compare, or nothing left to change) is refused too. ``mask`` must have passed the
    image checks (a real image within the pixel limit)."""
    some, every, by_alpha = marked_extent(mask)
    if marks == "keep":
        if not some:
            raise InvalidInput(
                "the mask marks no subject to keep: white pixels of an opaque mask mark the subject, or fully "
                "transparent pixels of a mask with transparency",
                field=field,
            )
        if every and judged:
            raise InvalidInput(
                "the mask marks the whole image as the subject to keep, which leaves nothing to change", field=field
            )
        return
    if not some:
        why = (
            "it has transparency but no fully transparent pixel, so it is read by its alpha and marks nothing"
            if by_alpha
            else "it has no white pixel"
        )
        raise InvalidInput(f"the mask marks no region to change ({why}): {MASK_RULE}", field=field)
    if every and judged:
        raise InvalidInput(
            "the mask marks the whole image, which leaves no area outside it for the edit to be judged against",
            field=field,
        )
