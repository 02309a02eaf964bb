"""A faint see-through watermark laid across the middle of a photo is found even where it crosses both pale sky and
dark ground. A mark of opacity a turns a level p into (1-a)·p (a dark mark) or p + a·(255-p) (a pale one): a dark
mark hardly changes dark ground, so the contrast-normalised luminance showed its letters over the sky and lost
them over the ground, and the detector found no line (or only a piece). Their unmarked siblings stay green."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel.bench.judges import _png
from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges import text
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.store.images import inspect_image
from tests.judges.test_text_reading import SANS_BOLD


def see_through(
    base: Image.Image, word: str, opacity: float, white: bool, size: int, angle: float, centre: tuple[int, int]
) -> Image.Image:
    """``base`` with ``word`` laid over it in white or black at ``opacity``, turned by ``angle`` degrees."""
    font = ImageFont.truetype(str(SANS_BOLD), size)
    left, top, right, bottom = font.getbbox(word)
    layer = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(layer).text((10 - left, 10 - top), word, font=font, fill=255)
    if angle:
        layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    coverage = Image.new("L", base.size, 0)
    coverage.paste(layer, (centre[0] - layer.width // 2, centre[1] - layer.height // 2))
    alpha = np.asarray(coverage, np.float32)[..., None] / 255 * opacity
    marked = np.asarray(base, np.float32) * (1 - alpha) + (255.0 if white else 0.0) * alpha
    return Image.fromarray(np.clip(np.round(marked), 0, 255).astype(np.uint8))


def judged(picture: Image.Image) -> text.Outcome:
    data = _png(picture)
    info = inspect_image(data, max_bytes=10**8, max_pixels=10**8)
    ctx = JudgeContext(image=ImageSource(info.sha256, info.mime, lambda: data, 10**8), params={}, options={})
    return text.no_stray_text(ctx, text.StrayTextSettings())


#: (scene seed, word, opacity, white, font size, angle, centre, letters the finding must show)
MARKS = [
    # 22% black 'PREVIEW' slanted from the sky down over brown ground: only the sky's half showed.
    (232, "PREVIEW", 0.22, False, 109, -21.6, (511, 440), "PREVIEW"),
    # 21% white '© IMAGEBANK' slanted over ground and a sign: read only as a jumble with the sign's words.
    (210, "© IMAGEBANK", 0.21, True, 62, -24.5, (526, 576), "BANK"),
]


@pytest.mark.parametrize("seed, word, opacity, white, size, angle, centre, letters", MARKS)
def test_a_faint_mark_across_light_and_dark_ground_is_found(
    seed: int,
    word: str,
    opacity: float,
    white: bool,
    size: int,
    angle: float,
    centre: tuple[int, int],
    letters: str,
) -> None:
    outcome = judged(see_through(photo_scene(1024, seed), word, opacity, white, size, angle, centre))
    assert not outcome.passed, outcome.detail
    assert "watermark" in outcome.detail and letters in outcome.detail, outcome.detail


@pytest.mark.parametrize("seed", sorted({mark[0] for mark in MARKS}))
def test_the_same_photo_without_a_mark_stays_green(seed: int) -> None:
    outcome = judged(photo_scene(1024, seed))
    assert outcome.passed, outcome.detail
