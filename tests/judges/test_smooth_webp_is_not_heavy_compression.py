"""A clean photo with smooth gradients (a vignette, a sky, a studio backdrop) saved as WebP at quality 75-95 or as JPEG
at 85-95 is not heavily compressed: its steps across the 8-px grid are a fraction of a level, and a large ratio of
such tiny steps is no visible block grid. The wording names the format it was given (a WebP is not called a JPEG).
Real heavy compression, a JPEG file at quality 5-15 or such a JPEG saved again as PNG or WebP, still fails."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
import pytest
import skimage.data
from PIL import Image

from sentinel.evaluation.judges import pixel_measures, pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome
from sentinel.store.images import decoded_pixels

MIMES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def encoded(picture: np.ndarray, kind: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if kind == "PNG":
        Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    else:
        Image.fromarray(picture).save(buffer, kind, quality=quality)
    return buffer.getvalue()


def compression(payload: bytes, kind: str) -> Outcome:
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), MIMES[kind], lambda: payload, 100_000_000)
    check = pixels.kind.checks["jpeg_blocking"]
    return check.run(JudgeContext(image=source, params={}), check.settings_model())


def vignetted(picture: np.ndarray, strength: float = 0.6) -> np.ndarray:
    height, width = picture.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    reach = np.hypot((xx - width / 2) / (width / 2), (yy - height / 2) / (height / 2)) / np.sqrt(2)
    return np.clip(picture * (1 - strength * reach**2)[..., None], 0, 255).astype(np.uint8)


def sky(side: int = 1024) -> np.ndarray:
    down = np.linspace(0, 1, side)[:, None, None]
    picture = np.array([70, 120, 200.0]) * (1 - down) + np.array([190, 215, 240.0]) * down
    return np.clip(picture * np.ones((1, side, 1)), 0, 255).astype(np.uint8)


def backdrop(side: int = 1024) -> np.ndarray:
    """A grey studio backdrop lit in the middle, falling off toward the corners."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    light = 1 - 0.9 * np.hypot(xx - 0.5, yy - 0.45)
    return np.clip(np.array([200, 200, 205.0]) * light[..., None], 0, 255).astype(np.uint8)


def photo(side: int = 1024) -> np.ndarray:
    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.LANCZOS))


SMOOTH = {
    "vignetted-photo": lambda: vignetted(photo()),
    "vignetted-sky": lambda: vignetted(sky()),
    "sky": sky,
    "studio-backdrop": lambda: vignetted(backdrop(), 0.8),
}
CLEAN_SAVES = [("WEBP", 75), ("WEBP", 85), ("WEBP", 90), ("WEBP", 95), ("JPEG", 85), ("JPEG", 90), ("JPEG", 95)]


def misread_as_heavily_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The coefficient lattice read as quality 2.6, as on the held-out vignetted WebP: what decides is whether the
    block grid shows."""
    measure = pixel_measures.jpeg_blocking
    monkeypatch.setattr(pixel_measures, "jpeg_blocking", lambda gray: dataclasses.replace(measure(gray), quality=2.6))


@pytest.mark.parametrize(("kind", "quality"), [("WEBP", 75), ("WEBP", 90), ("WEBP", 95)])
@pytest.mark.parametrize("scene", SMOOTH.values(), ids=SMOOTH.keys())
def test_a_smooth_gradients_tiny_grid_steps_are_no_blocking(
    scene, kind: str, quality: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    misread_as_heavily_compressed(monkeypatch)
    outcome = compression(encoded(scene(), kind, quality), kind)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize(("kind", "quality"), CLEAN_SAVES)
@pytest.mark.parametrize("scene", SMOOTH.values(), ids=SMOOTH.keys())
def test_a_clean_smooth_picture_saved_at_a_usual_quality_passes(scene, kind: str, quality: int) -> None:
    outcome = compression(encoded(scene(), kind, quality), kind)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("quality", [75, 90])
def test_a_webp_is_not_described_as_a_jpeg(quality: int) -> None:
    outcome = compression(encoded(vignetted(photo()), "WEBP", quality), "WEBP")
    assert outcome.passed and "JPEG compression" not in outcome.detail, outcome.detail


@pytest.mark.parametrize("quality", [5, 10, 15])
def test_a_jpeg_file_compressed_hard_still_fails(quality: int) -> None:
    outcome = compression(encoded(vignetted(photo()), "JPEG", quality), "JPEG")
    assert not outcome.passed and f"saved at JPEG quality {quality}" in outcome.detail, outcome.detail


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
@pytest.mark.parametrize("quality", [5, 10, 15])
def test_heavy_jpeg_compression_saved_again_still_fails_naming_the_format_given(quality: int, kind: str) -> None:
    blocky = np.asarray(Image.open(io.BytesIO(encoded(vignetted(photo()), "JPEG", quality))).convert("RGB"))
    outcome = compression(encoded(blocky, kind, 90), kind)
    assert not outcome.passed, outcome.detail
    assert outcome.measured is not None and float(outcome.measured) < 20, outcome.detail  # type: ignore[arg-type]
    named = "WebP" if kind == "WEBP" else "PNG"
    assert f"this {named} image" in outcome.detail and "JPEG compression" not in outcome.detail, outcome.detail
