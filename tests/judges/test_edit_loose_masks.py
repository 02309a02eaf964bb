"""The edit judge reads what the customer sees, whatever the mask's fit: a perfect removal under a mask painted
broadly around the object is green (nothing repainted still fails), a removal whose mask lies just under the horizon
is not called a seam for the horizon the surroundings have themselves, a whole result moved by a pixel is preserved,
and a ring of the old background around a kept subject fails though the keep mask is looser than the subject."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from sentinel.evaluation.judges.edit import (
    BackgroundChangeSettings,
    FillSettings,
    PreservedSettings,
    RemovalSettings,
    background_changed,
    changed_in_mask,
    fill_matches_surroundings,
    preserved_outside_mask,
)
from tests.support.edit_inputs import context, encoded

WIDTH, HEIGHT = 1024, 768
HORIZON = 480
#: The car to remove (or keep), standing on the grass just under the horizon.
BODY = (380, 520, 620, 640)
WHEELS = ((400, 610, 460, 670), (540, 610, 600, 670))


def landscape() -> Image.Image:
    """A sky gradient over striped, grainy grass (horizon at HORIZON), with a house and a tree: no car."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    share = (rows / HEIGHT)[..., None]
    pixels = np.array([110, 160, 220]) * (1 - share) + np.array([200, 220, 240]) * share
    ground = rows > HORIZON
    stripes = 20 * np.sin(cols[ground] / 9.0)[..., None]
    pixels[ground] = np.array([70, 120, 50]) + stripes + rng.normal(0, 8, (int(ground.sum()), 3))
    image = Image.fromarray(np.clip(pixels + rng.normal(0, 2.5, pixels.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 330, 260, 500), fill=(170, 90, 60))
    draw.polygon([(60, 330), (170, 250), (280, 330)], fill=(110, 40, 30))
    draw.ellipse((560, 260, 700, 420), fill=(40, 110, 40))
    draw.rectangle((620, 410, 640, 500), fill=(80, 50, 30))
    return image


def with_car(image: Image.Image) -> Image.Image:
    image = image.copy()
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(BODY, radius=30, fill=(200, 20, 30))
    for wheel in WHEELS:
        draw.ellipse(wheel, fill=(20, 20, 20))
    return image


def car_shape() -> Image.Image:
    shape = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(shape)
    draw.rounded_rectangle(BODY, radius=30, fill=255)
    for wheel in WHEELS:
        draw.ellipse(wheel, fill=255)
    return shape


def box_mask(box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def removed(mask: Image.Image) -> Image.Image:
    """The perfect removal: the landscape without the car under the mask, the source elsewhere."""
    return Image.composite(landscape(), with_car(landscape()), mask)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


#: The lower 60% of the frame, as a user paints "remove the car" broadly (the car is a tenth of it).
LOOSE = (0, 300, WIDTH - 1, HEIGHT - 1)
#: All but a 20 px border.
NEARLY_ALL = (20, 20, WIDTH - 20, HEIGHT - 20)


@pytest.mark.parametrize("box", [LOOSE, NEARLY_ALL], ids=["lower 60%", "all but a border"])
def test_a_perfect_removal_under_a_loosely_painted_mask_passes(box: tuple[int, int, int, int]) -> None:
    mask = box_mask(box)
    outcome = changed_in_mask(context(with_car(landscape()), removed(mask), mask), RemovalSettings(min_change=10))
    assert outcome.passed, outcome.detail
    assert "repainted" in outcome.detail


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(with_car(landscape()), id="the source itself"),
        pytest.param(jpeg(with_car(landscape()), 75), id="the source re-encoded at q75"),
        pytest.param(
            Image.fromarray(np.roll(np.asarray(with_car(landscape())), 2, axis=0)), id="the source moved 2 px"
        ),
    ],
)
def test_nothing_removed_under_a_loose_mask_still_fails(result: Image.Image) -> None:
    mask = box_mask(LOOSE)
    outcome = changed_in_mask(context(with_car(landscape()), result, mask), RemovalSettings(min_change=10))
    assert not outcome.passed
    assert "the object is still there" in outcome.detail


def test_a_faded_object_under_a_loose_mask_still_fails() -> None:
    """The car only faded 10% towards the grass: repainted, but it is plainly still there."""
    mask = box_mask(LOOSE)
    source = with_car(landscape())
    faded = Image.blend(source, removed(mask), 0.1)
    outcome = changed_in_mask(context(source, faded, mask), RemovalSettings(min_change=10))
    assert not outcome.passed, outcome.detail


def rounded_mask(box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=20, fill=255)
    return mask


@pytest.mark.parametrize(
    "box", [(360, 500, 640, 690), (350, 495, 650, 695), (370, 505, 630, 685)], ids=["drawn", "wider", "narrower"]
)
def test_a_perfect_removal_just_under_the_horizon_matches_its_surroundings(box: tuple[int, int, int, int]) -> None:
    """The fill continues the grass exactly; the sky lies just above the mask. The horizon is the surroundings' own
    step, not a seam the fill made."""
    mask = rounded_mask(box)
    outcome = fill_matches_surroundings(context(with_car(landscape()), removed(mask), mask), FillSettings())
    assert outcome.passed, outcome.detail
    assert outcome.measured is not None and float(outcome.measured) <= 0.75, outcome.detail


def test_a_fill_of_the_wrong_colour_still_fails_beside_the_horizon() -> None:
    mask = rounded_mask((360, 500, 640, 690))
    source = with_car(landscape())
    pink = Image.composite(Image.new("RGB", (WIDTH, HEIGHT), (225, 150, 170)), source, mask)
    pink = Image.fromarray(
        np.clip(
            np.asarray(pink, dtype=np.int16) + np.random.default_rng(1).integers(-8, 9, (HEIGHT, WIDTH, 3)), 0, 255
        ).astype(np.uint8)
    )
    outcome = fill_matches_surroundings(context(source, pink, mask), FillSettings())
    assert not outcome.passed
    assert "does not continue its surroundings" in outcome.detail


def fine_lawn(size: int = 512) -> Image.Image:
    """Fine, high-contrast grass: every pixel differs from its neighbours, so a one-pixel shift decorrelates it."""
    rng = np.random.default_rng(11)
    blades = rng.normal(0, 28, (size, size))
    streaks = np.asarray(Image.fromarray(rng.integers(0, 255, (size, size // 4), dtype=np.uint8)).resize((size, size)))
    green = np.array([60, 125, 45]) + (blades + 0.3 * (streaks - 128.0))[..., None] * np.array([0.8, 1.0, 0.6])
    return Image.fromarray(np.clip(green, 0, 255).astype(np.uint8))


def test_a_clean_removal_moved_by_one_pixel_and_saved_at_q75_is_preserved() -> None:
    lawn = fine_lawn()
    source = lawn.copy()
    ImageDraw.Draw(source).ellipse((220, 220, 290, 290), fill=(230, 120, 40))  # a flower
    mask = Image.new("L", lawn.size, 0)
    ImageDraw.Draw(mask).ellipse((205, 205, 305, 305), fill=255)
    shifted = Image.fromarray(np.roll(np.asarray(lawn), (1, 1), axis=(0, 1)))
    outcome = preserved_outside_mask(context(source, encoded(shifted, "JPEG", quality=75), mask), PreservedSettings())
    assert outcome.passed, outcome.detail


def test_a_blurred_lawn_is_still_altered_outside_the_mask() -> None:
    lawn = fine_lawn()
    mask = Image.new("L", lawn.size, 0)
    ImageDraw.Draw(mask).ellipse((205, 205, 305, 305), fill=255)
    blurred = lawn.filter(ImageFilter.GaussianBlur(2))
    outcome = preserved_outside_mask(context(lawn, blurred, mask), PreservedSettings())
    assert not outcome.passed


def keep_mask() -> Image.Image:
    """The customer's keep mask: one rounded box around the car, looser than it between and below the wheels."""
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rounded_rectangle((380, 520, 620, 670), radius=30, fill=255)
    return mask


def cut_out(ring: int) -> Image.Image:
    """The car on white, with ``ring`` px of the old grass and sky left all round it."""
    keep = car_shape().filter(ImageFilter.MaxFilter(2 * ring + 1)) if ring else car_shape()
    return Image.composite(with_car(landscape()), Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255)), keep)


def test_an_8px_ring_of_the_old_background_fails_though_the_keep_mask_is_looser_than_the_subject() -> None:
    outcome = background_changed(
        context(with_car(landscape()), cut_out(8), keep_mask(), color="#ffffff"), BackgroundChangeSettings()
    )
    assert not outcome.passed
    assert outcome.severity in ("moderate", "severe")
    assert "ring of the old background" in outcome.detail


@pytest.mark.parametrize("ring", [0, 3])
def test_a_clean_or_3px_soft_cut_out_passes_with_a_loose_keep_mask(ring: int) -> None:
    outcome = background_changed(
        context(with_car(landscape()), cut_out(ring), keep_mask(), color="#ffffff"), BackgroundChangeSettings()
    )
    assert outcome.passed, outcome.detail
