"""The difference view of an edit: where the result's pixels differ from the source's, drawn in red over a faded
copy of the source, so a reviewer sees at a glance whether the edit stayed inside the mask."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sqlmodel import Session

from sentinel.errors import NotFound
from sentinel.models import Evaluation
from sentinel.services import Services
from sentinel.store.images import decoded_pixels

#: Channel differences up to this are compression noise, not an edit: they are left out of the picture.
NOISE_LEVEL = 12
#: A difference of this much (of 255) or more is drawn in full red; smaller ones fade towards the source.
FULL_DIFFERENCE = 96
HIGHLIGHT = np.array([220, 30, 30], dtype=np.float32)


def difference_rgb(source: np.ndarray, result: np.ndarray) -> np.ndarray:
    """The picture itself, at the source's size (a result of another size is resampled onto it)."""
    if result.shape[:2] != source.shape[:2]:
        height, width = source.shape[:2]
        result = np.asarray(Image.fromarray(result).resize((width, height), Image.Resampling.BILINEAR))
    change = np.abs(source.astype(np.int16) - result.astype(np.int16)).max(axis=2).astype(np.float32)
    strength = np.clip((change - NOISE_LEVEL) / (FULL_DIFFERENCE - NOISE_LEVEL), 0.0, 1.0)[..., None]
    # The source, light and grey: enough to recognise where things are, faint enough for the red to stand out.
    grey = source.astype(np.float32).mean(axis=2, keepdims=True)
    faded = 255.0 - (255.0 - grey) * 0.35
    picture = faded * (1.0 - strength) + HIGHLIGHT * strength
    return np.clip(picture, 0, 255).astype(np.uint8)


def difference_png(services: Services, evaluation: Evaluation) -> bytes:
    """The difference view of an edit evaluation the caller may see, as PNG bytes. NotFound when it is not an
    edit or its images are gone; BadImage/DecodeBusy from the decode (both clear 4xx/503 answers)."""
    if evaluation.source_image_id is None or evaluation.image_id is None:
        raise NotFound(f"evaluation '{evaluation.id}' is not an edit: it has no source image to compare with")
    images = services.images
    with Session(services.engine) as session:
        # Refused with the store's own message when an image was deleted under the retention policy.
        images.get(session, evaluation.source_image_id)
        images.get(session, evaluation.image_id)
    max_pixels = services.settings.max_image_pixels
    # Reduced previews within the process's decode budget: a difference view needs no more than the screen shows.
    source = decoded_pixels.preview(images.read(evaluation.source_image_id), max_pixels)
    result = decoded_pixels.preview(images.read(evaluation.image_id), max_pixels)
    buffer = io.BytesIO()
    Image.fromarray(difference_rgb(source, result)).save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
