"""An edit's three inputs as the edit judges receive them: result, source and mask, each an encoded image."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.store.images import decoded_pixels


def encoded(image: Image.Image, kind: str = "PNG", **options: int) -> ImageSource:
    """``image`` as a file of ``kind`` (PNG at the fastest compression unless ``options`` say otherwise)."""
    if kind == "PNG":
        options = {"compress_level": 1} | options
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    data = buffer.getvalue()
    return ImageSource(hashlib.sha256(data).hexdigest(), f"image/{kind.lower()}", lambda: data, 100_000_000)


def context(source: Image.Image, result: Image.Image | ImageSource, mask: Image.Image, **params: str) -> JudgeContext:
    """The judges' view of one edit; decoded pixels of earlier tests are forgotten, so nothing is read from them."""
    decoded_pixels.clear()
    image = result if isinstance(result, ImageSource) else encoded(result)
    return JudgeContext(image=image, params=params, source=encoded(source), mask=encoded(mask))
