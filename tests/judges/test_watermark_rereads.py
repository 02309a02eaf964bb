"""The watermark read of a photo does not read again what was already read: a sign in the scene the plain read
read surely (its reading would be set aside as the scene's own text), or, in the weakest colour channel's pass, the
picture as it is where the luminance pass just read it. Each reading is ~12 ms of the recogniser, most of the text
judge's cost on a photo after the detector. A faint mark is still found."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel.bench.judges import _png
from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges import text
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.store.images import inspect_image
from tests.judges.test_text_reading import SANS_BOLD


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What each single-line reading (the watermark read's) said, in order."""
    said: list[str] = []
    original = text.read_line

    def counted(rgb: np.ndarray, **options: bool) -> tuple[str, float]:
        reading = original(rgb, **options)
        said.append(reading[0])
        return reading

    monkeypatch.setattr(text, "read_line", counted)
    yield said


def judged(picture: Image.Image) -> text.Outcome:
    data = _png(picture)
    info = inspect_image(data, max_bytes=10**8, max_pixels=10**8)
    ctx = JudgeContext(image=ImageSource(info.sha256, info.mime, lambda: data, 10**8), params={}, options={})
    return text.no_stray_text(ctx, text.StrayTextSettings())


def test_a_sign_in_the_scene_is_not_read_again_by_the_watermark_read(readings: list[str]) -> None:
    # Scene 4 has a 'CAFE' sign the plain read reads at 100%; the watermark read found its line again and read it
    # twice (as it is and contrast-normalised), only to set it aside as the scene's own text.
    outcome = judged(photo_scene(1024, 4))
    assert outcome.passed, outcome.detail
    assert not [said for said in readings if "CAFE" in said.upper()], readings


def test_the_weakest_channel_pass_reads_the_picture_once_where_the_luminance_pass_did(readings: list[str]) -> None:
    # Scenes 1 and 5: colourful, no text; both passes find the same texture lines, and the picture as it is was read
    # there in each pass (four readings, then two, where one and two remain).
    for seed, most in ((1, 2), (5, 1)):
        readings.clear()
        outcome = judged(photo_scene(1024, seed))
        assert outcome.passed, outcome.detail
        assert len(readings) <= most, (seed, readings)


def test_a_faint_mark_beside_a_sign_is_still_found(readings: list[str]) -> None:
    base = photo_scene(1024, 4).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    # 11% white: too faint for the plain read, found by the watermark read's luminance pass beside the sign's line.
    font = ImageFont.truetype(str(SANS_BOLD), 110)
    ImageDraw.Draw(layer).text((512, 380), "SAMPLE", font=font, fill=(255, 255, 255, 28), anchor="mm")
    outcome = judged(Image.alpha_composite(base, layer).convert("RGB"))
    assert not outcome.passed and "faint watermark" in outcome.detail and "SAMPLE" in outcome.detail, outcome.detail
    assert not [said for said in readings if "CAFE" in said.upper()], readings
