"""Ordinary pictures are not failed by the pixel measures meant for broken ones: a photo whose brightness or contrast
was nudged by a few percent is not posterised, while a picture reduced to 4-5 bits still is."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps
from skimage import data

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome
from sentinel.store.images import decoded_pixels


def encode(picture: np.ndarray, kind: str = "PNG", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if kind == "PNG":
        Image.fromarray(picture).save(buffer, "PNG", compress_level=1)
    else:
        Image.fromarray(picture).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def judge(name: str, payload: bytes) -> Outcome:
    """One pixels check on ``payload`` with its default settings."""
    mime = "image/jpeg" if payload.startswith(b"\xff\xd8") else "image/png"
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), mime, lambda: payload, 100_000_000)
    check = pixels.kind.checks[name]
    return check.run(JudgeContext(image=source, params={}), check.settings_model())


def photo(name: str) -> np.ndarray:
    picture = getattr(data, name)()
    return np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture


def adjusted(picture: np.ndarray, enhancer: str, factor: float) -> np.ndarray:
    """The photo after a levels change an editor or a provider's post-processing makes (Pillow's ImageEnhance)."""
    return np.asarray(getattr(ImageEnhance, enhancer)(Image.fromarray(picture)).enhance(factor))


# ---------------------------------------------------------------------------------------------------------------
# A mild tone adjustment is not posterisation
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "enhancer", "factor"),
    [
        ("astronaut", "Contrast", 1.03),
        ("astronaut", "Brightness", 1.06),
        ("chelsea", "Contrast", 1.06),
        ("chelsea", "Brightness", 0.94),
        ("gravel", "Contrast", 0.94),
        ("coffee", "Brightness", 1.06),
    ],
)
def test_a_photo_with_brightness_or_contrast_nudged_a_few_percent_is_not_posterised(
    name: str, enhancer: str, factor: float
) -> None:
    outcome = judge("banding", encode(adjusted(photo(name), enhancer, factor)))
    assert outcome.passed, outcome.detail


def test_a_tone_adjusted_photo_saved_as_jpeg_is_not_posterised() -> None:
    outcome = judge("banding", encode(adjusted(photo("gravel"), "Brightness", 1.06)[:420, :400], "JPEG", 90))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize(("bits", "kind"), [(4, "PNG"), (5, "PNG"), (4, "JPEG"), (5, "JPEG")])
def test_a_photo_reduced_to_4_or_5_bits_is_still_posterised(bits: int, kind: str) -> None:
    posterised = np.asarray(ImageOps.posterize(Image.fromarray(photo("astronaut")), bits))
    outcome = judge("banding", encode(posterised, kind))
    assert not outcome.passed and f"about {bits} bits" in outcome.detail, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# A noise-free shaded render is not a blown-up picture
# ---------------------------------------------------------------------------------------------------------------


def shaded_box(light: float, dark: float, vertical: bool = False) -> np.ndarray:
    """A 1200² packshot render: a box shaded linearly from ``light`` to ``dark`` (no grain), a thin grey outline and
    a soft contact shadow on pure white."""
    side = 1200
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    box = (np.abs(xx - 600) < 420) & (yy > 80) & (yy < 1120)
    along = (yy - 80) / 1040 if vertical else (xx - 180) / 840
    picture = np.full((side, side), 255.0)
    picture *= 1 - 0.25 * np.exp(-(((xx - 600) / 378) ** 8) - ((yy - 1119) / 14) ** 2) * (yy >= 1117)
    picture[box] = (light + (dark - light) * np.clip(along, 0, 1))[box]
    inner = (np.abs(xx - 600) < 418) & (yy > 82) & (yy < 1118)
    picture[box & ~inner] = 200
    return np.repeat(picture.astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize(
    ("light", "dark", "vertical"), [(246, 228, False), (200, 150, False), (246, 228, True)], ids=str
)
def test_a_smoothly_shaded_render_without_grain_is_not_pixelated(light: int, dark: int, vertical: bool) -> None:
    outcome = judge("pixelated", encode(shaded_box(light, dark, vertical)))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("factor", [8, 16])
def test_a_photo_blown_up_with_nearest_neighbour_is_still_pixelated(factor: int) -> None:
    small = Image.fromarray(photo("astronaut")).resize((1024 // factor, 1024 // factor), Image.LANCZOS)
    outcome = judge("pixelated", encode(np.asarray(small.resize((1024, 1024), Image.NEAREST))))
    assert not outcome.passed and f"{1024 // factor}×{1024 // factor}" in outcome.detail, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# Streaks: a smear of copied lines is broken, a blur or flat icon art is not
# ---------------------------------------------------------------------------------------------------------------


def sharp_astronaut() -> np.ndarray:
    """The astronaut, mirrored (her face right of centre), at 1024², sharpened as image models deliver pictures."""
    big = ImageOps.mirror(Image.fromarray(photo("astronaut"))).resize((1024, 1024), Image.LANCZOS)
    from PIL import ImageFilter

    return np.asarray(big.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2)))


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_columns_or_rows_copied_from_one_line_through_a_face_break_the_picture(kind: str) -> None:
    columns = sharp_astronaut().copy()
    columns[:, 600:650] = columns[:, 600:601]  # a vertical smear through the face and suit
    rows = sharp_astronaut().copy()
    rows[400:470] = rows[400:401]
    for smeared, lines in ((columns, "columns"), (rows, "rows")):
        outcome = judge("broken_regions", encode(smeared, kind))
        assert not outcome.passed and f"of its {lines} are smeared" in outcome.detail, outcome.detail


def test_the_sharp_picture_those_smears_were_made_from_is_not_broken() -> None:
    outcome = judge("broken_regions", encode(sharp_astronaut()))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("radius", [1.5, 4])
def test_a_blurred_photo_is_not_broken_by_streaks(radius: float) -> None:
    from PIL import ImageFilter

    mirrored = np.asarray(ImageOps.mirror(Image.fromarray(photo("astronaut"))).filter(ImageFilter.GaussianBlur(radius)))
    outcome = judge("broken_regions", encode(mirrored))
    assert outcome.passed, outcome.detail


def flat_icons(side: int) -> np.ndarray:
    """Flat circles, squares and triangles on navy, drawn at 4096² and exported at ``side``² as icon sets are."""
    from PIL import ImageDraw

    sheet = Image.new("RGB", (4096, 4096), (35, 40, 60))
    draw = ImageDraw.Draw(sheet)
    for across in range(3):
        for down in range(2):
            x, y, r = 4096 * (0.2 + 0.3 * across), 4096 * (0.3 + 0.4 * down), 4096 * 0.1
            shape = (across + down) % 3
            colour = [(240, 100, 100), (100, 200, 240), (250, 220, 90)][shape]
            if shape == 0:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
            elif shape == 1:
                draw.rectangle([x - r, y - r, x + r, y + r], fill=colour)
            else:
                draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    return np.asarray(sheet.resize((1024, 1024), Image.LANCZOS).resize((side, side), Image.LANCZOS))


@pytest.mark.parametrize("side", [256, 512, 1024])
def test_flat_icon_art_is_not_broken_by_streaks_at_any_size(side: int) -> None:
    outcome = judge("broken_regions", encode(flat_icons(side)))
    assert outcome.passed, outcome.detail
