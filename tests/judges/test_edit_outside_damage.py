"""What an edit did outside its mask is judged where it happened: a block, a new or moved object, a blurred or
recoloured area fails "preserved outside the mask" however large the frame (its mean SSIM hardly moves for them),
graded by size, while what real providers do to an untouched picture (re-encoding, a one-pixel shift, a slight
global colour shift) stays green. A background replacement that leaves a ring of the old background around the
subject (a careless cut-out's halo) fails "background changed" though the ring is a small share of the
background."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from sentinel.evaluation.judges.base import ImageSource
from sentinel.evaluation.judges.edit import (
    BackgroundChangeSettings,
    BackgroundColorSettings,
    PreservedSettings,
    background_changed,
    background_color,
    preserved_outside_mask,
)
from tests.support.edit_inputs import context, encoded

WIDTH, HEIGHT = 1024, 768
#: The object the removal takes away, and its mask (a little larger, as people draw them).
OBJECT = (470, 330, 570, 430)
MASK = (455, 315, 585, 445)


def backdrop() -> Image.Image:
    """A photo-like scene: a sky gradient over a textured lawn with a few stones; no object in the middle."""
    rng = np.random.default_rng(7)
    rows = np.linspace(0, 1, HEIGHT)[:, None, None]
    sky = (np.array([110, 160, 225]) * (1 - rows) + np.array([190, 215, 240]) * rows).repeat(WIDTH, axis=1)
    coarse = np.asarray(Image.fromarray(rng.integers(0, 255, (48, 64), dtype=np.uint8)).resize((WIDTH, HEIGHT)))
    fine = rng.normal(0, 9, (HEIGHT, WIDTH))
    lawn = np.array([70, 130, 60]) + ((coarse - 128) * 0.25 + fine)[..., None]
    pixels = np.where(np.arange(HEIGHT)[:, None, None] < 300, sky, lawn)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for x, y in ((150, 520), (800, 600), (900, 420)):
        draw.ellipse((x, y, x + 40, y + 28), fill=(120, 115, 110))
    return image


def with_ball(image: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> Image.Image:
    image = image.copy()
    ImageDraw.Draw(image).ellipse(box, fill=colour)
    return image


def mask_image() -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).ellipse(MASK, fill=255)
    return mask


SOURCE = with_ball(backdrop(), OBJECT, (200, 30, 30))
REMOVED = backdrop()


def preserved(result: ImageSource) -> tuple[bool, str | None, str]:
    outcome = preserved_outside_mask(context(SOURCE, result, mask_image()), PreservedSettings(min_ssim=0.9))
    return outcome.passed, outcome.severity, outcome.detail


def changed(image: Image.Image, box: tuple[int, int, int, int], how: str) -> Image.Image:
    image = image.copy()
    region = image.crop(box)
    if how == "black":
        region = Image.new("RGB", region.size, (0, 0, 0))
    elif how == "blur":
        region = region.filter(ImageFilter.GaussianBlur(6))
    elif how == "recolour":
        red, green, blue = region.split()
        region = Image.merge("RGB", (blue, red, green))
    image.paste(region, box[:2])
    return image


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(encoded(REMOVED), id="removed cleanly"),
        pytest.param(encoded(REMOVED, "JPEG", quality=85), id="re-encoded as JPEG q85"),
        pytest.param(encoded(Image.fromarray(np.roll(np.asarray(REMOVED), 1, axis=1))), id="shifted by one pixel"),
        pytest.param(
            encoded(Image.fromarray(np.roll(np.asarray(REMOVED), (1, 1), axis=(0, 1))), "JPEG", quality=85),
            id="shifted diagonally and re-encoded",
        ),
        pytest.param(
            encoded(Image.fromarray(np.clip(np.asarray(REMOVED) * 1.03 + 5, 0, 255).astype(np.uint8))),
            id="slightly brighter everywhere",
        ),
        pytest.param(encoded(REMOVED.resize((2048, 1536)), "JPEG", quality=85), id="upscaled 2x"),
        pytest.param(encoded(REMOVED.resize((512, 384), Image.Resampling.LANCZOS)), id="returned at half size"),
    ],
)
def test_what_providers_do_to_an_untouched_picture_is_preserved(result: ImageSource) -> None:
    passed, _, detail = preserved(result)
    assert passed, detail


@pytest.mark.parametrize(
    ("result", "where"),
    [
        pytest.param(changed(REMOVED, (100, 60, 300, 260), "black"), "upper left", id="a black square in the sky"),
        pytest.param(with_ball(REMOVED, (800, 120, 940, 260), (40, 60, 220)), "upper right", id="a new blue ball"),
        pytest.param(with_ball(REMOVED, (120, 560, 220, 660), (200, 30, 30)), "lower left", id="the ball moved"),
        pytest.param(changed(REMOVED, (620, 480, 920, 740), "blur"), "lower right", id="a blurred patch of lawn"),
        pytest.param(changed(REMOVED, (60, 420, 360, 720), "recolour"), "lower left", id="a recoloured patch"),
    ],
)
def test_a_visible_change_outside_the_mask_is_severe_and_located(result: Image.Image, where: str) -> None:
    passed, severity, detail = preserved(encoded(result))
    assert not passed
    assert severity == "severe", detail
    assert where in detail


def test_a_small_speck_outside_the_mask_fails_at_most_moderately() -> None:
    passed, severity, detail = preserved(encoded(changed(REMOVED, (700, 100, 740, 140), "black")))
    assert not passed
    assert severity in ("mild", "moderate"), detail


def test_a_whole_picture_recoloured_is_named_as_a_change_outside_the_mask() -> None:
    red, green, blue = REMOVED.split()
    passed, severity, detail = preserved(encoded(Image.merge("RGB", (blue, green, red))))
    assert not passed and severity == "severe"
    assert "outside the mask" in detail


# Background replacement: a mug on cluttered shelves, replaced by white.
MUG = (380, 250, 640, 560)


def clutter() -> Image.Image:
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((WIDTH, HEIGHT), Image.Resampling.NEAREST)


def mug_mask() -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rounded_rectangle(MUG, radius=40, fill=255)
    return mask


def replaced(halo: int, shift: int = 0) -> Image.Image:
    """The mug kept on white, with ``halo`` px of the old background left around it (and the mug moved by
    ``shift`` px to the right, as a provider's re-framing may)."""
    source = with_mug(clutter())
    result = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    keep = mug_mask()
    if halo:
        keep = keep.filter(ImageFilter.MaxFilter(2 * halo + 1))
    result.paste(source, (shift, 0), keep)
    return result


def with_mug(image: Image.Image) -> Image.Image:
    image = image.copy()
    ImageDraw.Draw(image).rounded_rectangle(MUG, radius=40, fill=(235, 200, 60))
    return image


def background(result: Image.Image, mask: Image.Image | None = None) -> tuple[bool, str | None, str]:
    ctx = context(with_mug(clutter()), encoded(result), mask or mug_mask(), color="#ffffff")
    outcome = background_changed(ctx, BackgroundChangeSettings(min_change=10))
    colour = background_color(ctx, BackgroundColorSettings())
    assert colour.passed, colour.detail  # the ring is a small share of the background: the colour alone passes it
    return outcome.passed, outcome.severity, outcome.detail


@pytest.mark.parametrize("halo", [8, 12])
def test_a_ring_of_the_old_background_around_the_subject_fails(halo: int) -> None:
    passed, severity, detail = background(replaced(halo))
    assert not passed
    assert severity in ("moderate", "severe"), detail
    assert "ring of the old background" in detail


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(replaced(0), id="cut exactly"),
        pytest.param(replaced(1), id="one pixel of soft edge"),
        pytest.param(replaced(0, shift=6), id="subject shifted by 6 px"),
    ],
)
def test_a_clean_cut_out_passes(result: Image.Image) -> None:
    passed, _, detail = background(result)
    assert passed, detail


def test_a_mask_drawn_a_little_inside_the_subject_is_no_ring() -> None:
    """The customer's mask 4 px inside the mug's outline; the provider keeps the whole mug (its own matting)."""
    passed, _, detail = background(replaced(0), mug_mask().filter(ImageFilter.MinFilter(9)))
    assert passed, detail
