"""Edit masks between conventions: a rubric's (``mask_marks``: white marks the region to change, or the subject to
keep) and the providers' and OpenAI's (the region to change, white or fully transparent)."""

from __future__ import annotations

import io

from PIL import Image

from sentinel.evaluation.rubric import Rubric
from sentinel.providers.masks import as_white_mask
from sentinel.store.mask_region import read_coverage


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def inverted(mask: bytes) -> bytes:
    """A greyscale PNG marking exactly what ``mask`` does not, as shown (its EXIF orientation applied), by the one
    rule of :mod:`sentinel.store.mask_region`: a mask read by its alpha is inverted by its alpha, not by the colour
    under it (which the rule ignores), and an opaque one by its brightness."""
    return _png(Image.fromarray(255 - read_coverage(mask), "L"))


def for_providers(rubric: Rubric, mask: bytes) -> bytes:
    """A task's mask as providers take it: white marks the region to change."""
    return mask if rubric.mask_marks == "change" else inverted(mask)


def from_openai(rubric: Rubric, mask: bytes) -> bytes:
    """An OpenAI-style mask (fully transparent, or white, where the image is to change) in the task's convention,
    so the edit judges read the region the caller meant. ``mask`` must have passed the image checks."""
    change = as_white_mask(mask)
    return change if rubric.mask_marks == "change" else inverted(change)
