"""Flat design is not a defect: a flat illustration standing on a plain lawn, sea or sand band is not a cut-off
generation, a business card or a button on a plain background is not a picture in a frame, and a pale minimalist
photo around a small dark bird (or a pastel flat illustration) is not washed out. A photo or a flat picture that
stops at a line and leaves a grey fill, a photo in a deep frame and a photo lifted to a grey floor still fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.judges.test_pixel_detectors import astronaut, coffee, jpeg, judge

SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf")
SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

Draw = Callable[[ImageDraw.ImageDraw, int, int], None]


def vector_art(draw: Draw, side: int = 1024, supersample: int = 3) -> np.ndarray:
    """A flat illustration as vector tools export it: drawn large and scaled down, so its outlines are smoothed."""
    big = Image.new("RGB", (side * supersample, side * supersample), "white")
    draw(ImageDraw.Draw(big), big.width, big.height)
    return np.asarray(big.resize((side, side), Image.Resampling.LANCZOS))


def house_on_lawn(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    d.rectangle((0, 0, w, h), fill=(150, 200, 240))
    d.rectangle((0, h * 0.72, w, h), fill=(90, 170, 70))
    d.rectangle((w * 0.35, h * 0.5, w * 0.65, h * 0.72), fill=(230, 120, 90))
    d.polygon([(w * 0.32, h * 0.5), (w * 0.5, h * 0.35), (w * 0.68, h * 0.5)], fill=(140, 60, 50))
    d.ellipse((w * 0.75, h * 0.1, w * 0.88, h * 0.23), fill=(255, 215, 80))


def boat_on_sea(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    d.rectangle((0, 0, w, h), fill=(250, 210, 170))
    d.rectangle((0, h * 0.65, w, h), fill=(40, 90, 150))
    hull = [(w * 0.35, h * 0.58), (w * 0.65, h * 0.58), (w * 0.6, h * 0.65), (w * 0.4, h * 0.65)]
    d.polygon(hull, fill=(120, 70, 40))
    d.polygon([(w * 0.5, h * 0.25), (w * 0.5, h * 0.56), (w * 0.68, h * 0.56)], fill=(250, 250, 250))
    d.ellipse((w * 0.2, h * 0.15, w * 0.32, h * 0.27), fill=(255, 140, 80))


def cactus_in_desert(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    d.rectangle((0, 0, w, h), fill=(255, 190, 120))
    d.rectangle((0, h * 0.7, w, h), fill=(220, 150, 80))
    d.rectangle((w * 0.6, h * 0.45, w * 0.64, h * 0.7), fill=(60, 120, 70))
    d.rectangle((w * 0.55, h * 0.52, w * 0.6, h * 0.55), fill=(60, 120, 70))
    d.rectangle((w * 0.55, h * 0.45, w * 0.57, h * 0.55), fill=(60, 120, 70))
    d.ellipse((w * 0.2, h * 0.2, w * 0.35, h * 0.35), fill=(255, 240, 200))


def pixel_art_house() -> np.ndarray:
    """A 32×32 pixel-art house on grass, shown at 1024 px with every art pixel a 32 px square."""
    art = Image.new("RGB", (32, 32), (120, 190, 255))
    d = ImageDraw.Draw(art)
    d.rectangle((0, 24, 31, 31), fill=(70, 160, 60))
    d.rectangle((10, 15, 21, 23), fill=(200, 160, 110))
    d.polygon([(8, 15), (15, 8), (23, 15)], fill=(170, 50, 40))
    d.rectangle((14, 19, 16, 23), fill=(90, 60, 30))
    return np.asarray(art.resize((1024, 1024), Image.Resampling.NEAREST))


FLAT_SCENES = {
    "house-on-a-lawn": lambda: vector_art(house_on_lawn),
    "boat-on-a-flat-sea": lambda: vector_art(boat_on_sea),
    "cactus-on-sand": lambda: vector_art(cactus_in_desert),
    "pixel-art-house": pixel_art_house,
}


@pytest.mark.parametrize("scene", FLAT_SCENES.values(), ids=FLAT_SCENES.keys())
def test_a_flat_illustration_standing_on_a_plain_ground_band_is_not_cut_off(scene) -> None:
    outcome, _ = judge("truncated", scene())
    assert outcome.passed, outcome.detail
    assert "not a cut" in outcome.detail


def cut(picture: np.ndarray, share: float, fill: tuple[int, int, int]) -> np.ndarray:
    out = picture.copy()
    out[round(picture.shape[0] * (1 - share)) :] = fill
    return out


@pytest.mark.parametrize(
    "picture",
    [
        lambda: cut(coffee(), 0.3, (90, 170, 70)),  # a photo that stops in a green band is still a photo that stops
        lambda: cut(astronaut(), 0.3, (40, 90, 150)),
        lambda: cut(vector_art(house_on_lawn), 0.45, (128, 128, 128)),  # a flat picture cut by a decoder's grey
        lambda: cut(vector_art(boat_on_sea), 0.5, (0, 0, 0)),
    ],
    ids=["photo-green-fill", "portrait-blue-fill", "flat-art-grey-fill", "flat-art-black-fill"],
)
def test_a_picture_that_stops_at_a_line_is_still_cut_off(picture) -> None:
    outcome, severity = judge("truncated", jpeg(picture(), 92))
    assert not outcome.passed and severity == "severe", outcome.detail
    assert outcome.facts["side"] == "bottom"


def business_card() -> np.ndarray:
    image = Image.new("RGB", (1536, 1024), (25, 35, 70))
    d = ImageDraw.Draw(image)
    d.rectangle((368, 312, 1168, 712), fill=(245, 242, 235))
    d.text((420, 380), "Jane Doe", font=ImageFont.truetype(str(SERIF), 70), fill=(25, 35, 70))
    d.text((420, 480), "Architect", font=ImageFont.truetype(str(SANS), 40), fill=(80, 80, 80))
    return np.asarray(image)


def gradient_button() -> np.ndarray:
    y, x = np.mgrid[0:1024, 0:1024] / 1023
    picture = np.empty((1024, 1024, 3))
    picture[:] = (30, 34, 48)
    inside = (np.abs(x - 0.5) < 0.3) & (np.abs(y - 0.5) < 0.12)
    shade = np.stack([70 + 80 * (1 - y), 130 + 80 * (1 - y), 220 + 30 * (1 - y)], -1)
    picture[inside] = shade[inside]
    image = Image.fromarray(picture.round().astype(np.uint8))
    ImageDraw.Draw(image).text((330, 470), "Get started", font=ImageFont.truetype(str(SANS), 60), fill="white")
    return np.asarray(image)


@pytest.mark.parametrize("picture", [business_card, gradient_button], ids=["business-card", "web-button"])
@pytest.mark.parametrize("quality", [None, 60])
def test_a_flat_rectangle_on_a_plain_background_is_not_a_frame(picture, quality: int | None) -> None:
    outcome, _ = judge("borders", picture() if quality is None else jpeg(picture(), quality))
    assert outcome.passed, outcome.detail


def deep_frame(photo: np.ndarray, share: float) -> np.ndarray:
    height, width = photo.shape[:2]
    bar = round(min(height, width) * share)
    out = np.full_like(photo, (25, 35, 70))
    inner = Image.fromarray(photo).resize((width - 2 * bar, height - 2 * bar), Image.Resampling.LANCZOS)
    out[bar : height - bar, bar : width - bar] = np.asarray(inner)
    return out


@pytest.mark.parametrize("share", [0.2, 0.3])
def test_a_photo_small_inside_a_deep_frame_is_still_framed(share: float) -> None:
    outcome, severity = judge("borders", deep_frame(astronaut(), share))
    assert not outcome.passed and outcome.facts["kind"] == "frame" and severity == "severe", outcome.detail


def minimal_bird() -> np.ndarray:
    """A vast pale sky (a gentle gradient with grain) and one small dark bird, about 0.1% of the frame."""
    rng = np.random.default_rng(3)
    rows = np.linspace(0, 1, 1024)[:, None, None]
    sky = np.array([205, 222, 238]) + rows * np.array([25, 18, 12]) + rng.normal(0, 1.5, (1024, 1024, 3))
    image = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    ImageDraw.Draw(image).polygon(
        [(470, 400), (500, 412), (512, 404), (524, 412), (554, 400), (520, 424), (512, 432), (504, 424)],
        fill=(40, 42, 48),
    )
    return np.asarray(image)


@pytest.mark.parametrize(
    "picture",
    [minimal_bird, lambda: vector_art(cactus_in_desert)],
    ids=["bird-in-a-pale-sky", "pastel-flat-desert"],
)
def test_a_pale_minimal_picture_with_a_small_dark_subject_or_a_pastel_palette_is_not_milky(picture) -> None:
    outcome, _ = judge("exposure", picture())
    assert outcome.passed, outcome.detail


def test_a_photo_lifted_to_a_grey_floor_is_still_washed_out() -> None:
    lifted = (coffee().astype(np.float32) * 0.5 + 128).astype(np.uint8)
    outcome, _ = judge("exposure", jpeg(lifted, 92))
    assert not outcome.passed and outcome.facts["too"] == "flat", outcome.detail
