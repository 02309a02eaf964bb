"""Held-out probe findings P1-F16, P1-F4 and P1-F5: the washed-out reasoning matches its percentile measure (a thin
black stroke in a pale sky is not "nothing darker"), a tiny picture blown up into blocks is red on every task with its
block size read right, and heavy JPEG compression's 8×8 blocks are not reported as a blown-up picture."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.store.images import decoded_pixels


def encode(picture: Image.Image, kind: str = "PNG", quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    if kind == "PNG":
        picture.save(buffer, "PNG", compress_level=1)
    else:
        picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def judge(name: str, payload: bytes, **params: object) -> tuple[Outcome, str | None]:
    mime = "image/jpeg" if payload.startswith(b"\xff\xd8") else "image/png"
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), mime, lambda: payload, 100_000_000)
    check = pixels.kind.checks[name]
    outcome = check.run(JudgeContext(image=source, params=dict(params)), check.settings_model())
    criterion = Criterion(id="c", must="The image is fine.", judge="pixels", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def pale_sky_with_a_black_stroke() -> Image.Image:
    rng = np.random.default_rng(4)
    rows = np.linspace(172, 232, 768)[:, None, None]
    sky = np.broadcast_to(rows * np.array([0.93, 0.97, 1.0]), (768, 1024, 3)) + rng.normal(0, 1.5, (768, 1024, 3))
    image = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    # A thin dark stroke, not a solid subject: a solid one (a bird's body) is a subject with deep tones, and passes.
    draw.line([(600, 300), (625, 290), (640, 300), (655, 288), (680, 298)], fill=(30, 30, 30), width=2)
    return image


def test_washed_out_reasoning_does_not_deny_a_small_dark_detail() -> None:
    outcome, _ = judge("exposure", encode(pale_sky_with_a_black_stroke()), prompt="a sky")
    assert not outcome.passed
    assert "nothing in the frame is darker" not in outcome.detail
    assert "almost nothing in the frame (under 0.1% of it) is darker than" in outcome.detail


def photo(width: int, height: int, seed: int = 9) -> Image.Image:
    """A photo-like picture: smooth colour fields with many grey levels and some crisp shapes."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 230, (6, 6, 3)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((width, height), Image.BICUBIC), np.float32)
    image = Image.fromarray(np.clip(field + rng.normal(0, 3, field.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(3, max(4, width // 8)))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def test_a_100_px_picture_blown_up_12x_is_severe_with_its_blocks_read_in_the_images_own_pixels() -> None:
    blown = photo(100, 100).resize((1200, 1200), Image.NEAREST)
    outcome, severity = judge("pixelated", encode(blown), prompt="a ball")
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "about 100×100 px" in outcome.detail and "blocks 12 px wide" in outcome.detail


def test_a_75_by_50_picture_blown_up_8x_is_severe() -> None:
    blown = photo(75, 50).resize((600, 400), Image.NEAREST)
    outcome, severity = judge("pixelated", encode(blown), prompt="coffee")
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "about 75×50 px" in outcome.detail and "blocks 8 px wide" in outcome.detail


def test_a_300_px_picture_blown_up_is_still_moderate() -> None:
    blown = photo(240, 240).resize((960, 960), Image.NEAREST)
    outcome, severity = judge("pixelated", encode(blown), prompt="a ball")
    assert not outcome.passed and severity == "moderate", outcome.detail


def test_heavy_jpeg_blocks_are_compression_not_a_blown_up_picture() -> None:
    for quality in (5, 8, 12):
        payload = encode(photo(1200, 1200, seed=quality), "JPEG", quality)
        outcome, _ = judge("pixelated", payload, prompt="a ball")
        assert outcome.passed, (quality, outcome.detail)
        assert not judge("jpeg_blocking", payload, prompt="a ball")[0].passed
