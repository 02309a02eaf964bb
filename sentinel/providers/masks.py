"""Edit masks as callers send them, and as each provider wants them.

Sentinel's own convention (``ImageSpec.mask``, the rubrics of object-removal): white marks the region to change.
OpenAI's is the mask's alpha channel: fully transparent pixels mark it. Both are read by one rule (see
:mod:`sentinel.store.mask_region`): a mask with any pixel not fully opaque by its alpha, a fully opaque one by its
brightness.
"""

from __future__ import annotations

import io

import numpy as np
import pybase64
from PIL import Image

from sentinel.store.images import sniff_mime
from sentinel.store.mask_region import MASK_RULE as MASK_RULE
from sentinel.store.mask_region import marked_region


def edit_region(mask: bytes) -> np.ndarray:
    """The region a mask marks for change, as a boolean array of the mask's height × width: the one rule's own
    reading (:func:`sentinel.store.mask_region.marked_region`), so a 16-bit grey mask is scaled as the judges scale
    it rather than clipped to white."""
    return marked_region(mask)


def transparent_region(image: bytes) -> np.ndarray | None:
    """The fully transparent pixels of an image with alpha (OpenAI's mask when none is sent); None without any."""
    with Image.open(io.BytesIO(image)) as opened:
        if "A" not in opened.getbands() and not (opened.mode == "P" and "transparency" in opened.info):
            return None
        alpha = np.asarray(opened.convert("RGBA").getchannel("A"))
    region = alpha == 0
    return region if region.any() else None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def as_white_mask(mask: bytes) -> bytes:
    """The mask as a greyscale PNG, white = change (Stability's convention)."""
    return _png(Image.fromarray(np.where(edit_region(mask), 255, 0).astype(np.uint8), "L"))


def as_alpha_mask(mask: bytes) -> bytes:
    """The mask as an RGBA PNG whose fully transparent pixels mark the region (OpenAI's convention)."""
    region = edit_region(mask)
    rgba = np.zeros((*region.shape, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(region, 0, 255)
    return _png(Image.fromarray(rgba, "RGBA"))


def white_mask_for_edit(image: bytes, mask: bytes | None) -> bytes | None:
    """The white-means-change mask for an edit: the caller's mask, else the image's fully transparent pixels
    (OpenAI's edit without a mask); None when neither marks a region."""
    if mask is not None:
        return as_white_mask(mask)
    region = transparent_region(image)
    if region is None:
        return None
    return _png(Image.fromarray(np.where(region, 255, 0).astype(np.uint8), "L"))


def data_uri(data: bytes) -> str:
    """Image bytes as a base64 ``data:`` URI (how fal and Replicate take an image inline, with no upload first)."""
    return f"data:{sniff_mime(data) or 'image/png'};base64,{pybase64.b64encode(data).decode('ascii')}"
