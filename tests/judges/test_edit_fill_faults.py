"""Removal fills that look wrong to a person though their colours belong to the scene (an outside probe's findings
P1-F10..F15): a seam along the mask's edge, a flat patch on a brick wall, a new object or a ghost of the removed
one covering a small part of a loose mask, the whole picture recoloured, and a thin ring of the old background
around a kept subject. Each beside its clean counterpart, which must still pass."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from sentinel.evaluation.judges.edit import (
    BackgroundChangeSettings,
    FillSettings,
    PreservedSettings,
    background_changed,
    fill_matches_surroundings,
    preserved_outside_mask,
)
from tests.support.edit_inputs import context

WIDTH, HEIGHT = 480, 320
#: The object to remove, and the mask painted loosely around it (the object is about a third of it).
OBJECT = (300, 150, 350, 260)
MASK = (270, 120, 390, 290)


def bricks() -> Image.Image:
    """A brick wall: flat, slightly grainy bricks in two shades and light mortar lines (its texture is the lines)."""
    rng = np.random.default_rng(5)
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.float32)
    for row in range(0, HEIGHT, 24):
        offset = 0 if (row // 24) % 2 else 24
        for col in range(-48, WIDTH, 48):
            shade = np.array([150, 70, 50]) if rng.random() < 0.5 else np.array([130, 60, 45])
            pixels[row : row + 24, max(0, col + offset) : max(0, col + offset + 48)] = shade
        pixels[row : row + 3] = (200, 195, 185)
    for col in range(0, WIDTH + 48, 48):
        for row in range(0, HEIGHT, 24):
            x = col + (0 if (row // 24) % 2 else 24)
            pixels[row : row + 24, max(0, x - 1) : min(WIDTH, x + 2)] = (200, 195, 185)
    pixels += rng.normal(0, 1.5, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def foliage() -> Image.Image:
    """Leaves in light and shade: greens from nearly black to bright, so a dark line is no colour new to it."""
    rng = np.random.default_rng(7)
    small = rng.random((HEIGHT // 8, WIDTH // 8)).astype(np.float32)
    light = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.BICUBIC))
    light = light.astype(np.float32) / 255 + rng.normal(0, 0.12, (HEIGHT, WIDTH))
    light = np.clip(light, 0, 1)[..., None]
    pixels = np.array([8, 14, 6]) + light * np.array([110, 170, 70])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def with_object(image: Image.Image) -> Image.Image:
    image = image.copy()
    ImageDraw.Draw(image).rectangle(OBJECT, fill=(60, 60, 70), outline=(230, 230, 230), width=4)
    return image


def box_mask(box: tuple[int, int, int, int] = MASK) -> Image.Image:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def fill(scene: Image.Image, result: Image.Image) -> tuple[bool, str]:
    outcome = fill_matches_surroundings(context(with_object(scene), result, box_mask()), FillSettings())
    return outcome.passed, outcome.detail


SCENES = {"bricks": bricks, "foliage": foliage}


@pytest.mark.parametrize("scene", SCENES)
def test_a_clean_plate_still_matches_its_surroundings(scene: str) -> None:
    passed, detail = fill(SCENES[scene](), SCENES[scene]())
    assert passed, detail


def framed(image: Image.Image, width: int, colour: tuple[int, int, int], sides: str = "all") -> Image.Image:
    """``image`` with a ``width`` px line of ``colour`` along the inside of the mask's edge (on ``sides``)."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    left, top, right, _ = MASK
    if sides == "all":
        draw.rectangle(MASK, outline=colour, width=width)
    else:  # the top side only
        draw.rectangle((left, top, right, top + width - 1), fill=colour)
    return image


@pytest.mark.parametrize(
    ("scene", "width", "colour", "sides"),
    [
        pytest.param("bricks", 8, (15, 15, 15), "all", id="dark 8 px on bricks"),
        pytest.param("bricks", 2, (15, 15, 15), "all", id="dark 2 px on bricks"),
        pytest.param("foliage", 6, (10, 12, 8), "all", id="dark 6 px in foliage (its own shade)"),
        pytest.param("foliage", 4, (200, 240, 160), "top", id="bright 4 px along one side"),
    ],
)
def test_a_seam_along_the_mask_edge_fails(scene: str, width: int, colour: tuple[int, int, int], sides: str) -> None:
    """P1-F12: the fill's measures left out the mask's outer band (its blend margin), where seams lie."""
    passed, detail = fill(SCENES[scene](), framed(SCENES[scene](), width, colour, sides))
    assert not passed
    assert "seam" in detail, detail


def mean_colour_patch(image: Image.Image, inset: int = 0) -> Image.Image:
    """The mask's area (less ``inset``) painted flat in the mean colour of the picture: the surroundings' own
    colour, so no new colour."""
    pixels = np.asarray(image).copy()
    left, top, right, bottom = MASK
    pixels[top + inset : bottom + 1 - inset, left + inset : right + 1 - inset] = pixels.reshape(-1, 3).mean(axis=0)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("inset", [0, 12])
def test_a_flat_patch_of_the_walls_own_colour_fails(inset: int) -> None:
    """P1-F13: the median step of a brick wall is its bricks' grain (under 2 levels), so a flat patch kept a third of
    "its texture"; the mortar lines are the wall's texture."""
    passed, detail = fill(bricks(), mean_colour_patch(bricks(), inset))
    assert not passed
    assert "lines and edges" in detail or "flat patch" in detail, detail


def test_a_softened_but_lined_fill_on_bricks_still_passes() -> None:
    """The clean plate blurred a little inside the mask (an inpainting's softness) keeps the mortar lines."""
    plate = bricks()
    soft = plate.filter(ImageFilter.GaussianBlur(1))
    result = Image.composite(soft, plate, box_mask())
    passed, detail = fill(plate, result)
    assert passed, detail


@pytest.mark.parametrize(
    ("scene", "colour"),
    [("foliage", (30, 60, 230)), ("foliage", (240, 40, 200)), ("bricks", (40, 200, 220))],
)
def test_a_small_new_object_in_a_loose_mask_fails(scene: str, colour: tuple[int, int, int]) -> None:
    """P1-F10: a bar about a fifth of the repainted mask in a colour found nowhere around it: its share of the whole
    fill stayed under the 35% allowed."""
    result = SCENES[scene]()
    ImageDraw.Draw(result).rectangle((315, 170, 340, 240), fill=colour)
    passed, detail = fill(SCENES[scene](), result)
    assert not passed
    assert "new object" in detail, detail


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("opacity", [0.3, 0.4])
def test_a_ghost_of_the_removed_object_fails(scene: str, opacity: float) -> None:
    """P1-F11: the clean plate blended with the object: its outline stays visible, in colours of the scene."""
    plate = SCENES[scene]()
    ghost = Image.blend(plate, with_object(plate), opacity)
    passed, detail = fill(plate, Image.composite(ghost, plate, box_mask()))
    assert not passed
    assert "ghost" in detail, detail


@pytest.mark.parametrize("cast", [(1.2, 1.0, 0.7), (0.8, 1.0, 1.25)], ids=["warm", "cool"])
@pytest.mark.parametrize("scene", SCENES)
def test_a_picture_recoloured_outside_the_mask_fails(scene: str, cast: tuple[float, float, float]) -> None:
    """P1-F14: SSIM (luminance structure) and the local damage (less the median shift) did not see a colour cast."""
    plate = SCENES[scene]()
    tinted = Image.fromarray(np.clip(np.asarray(plate) * np.array(cast), 0, 255).astype(np.uint8))
    outcome = preserved_outside_mask(context(with_object(plate), tinted, box_mask()), PreservedSettings())
    assert not outcome.passed
    assert "recoloured" in outcome.detail, outcome.detail


def test_a_slightly_brighter_picture_is_still_preserved() -> None:
    """A provider's slight global brightness change (+4 levels) is no recolouring."""
    plate = foliage()
    brighter = Image.fromarray(np.clip(np.asarray(plate).astype(np.int16) + 4, 0, 255).astype(np.uint8))
    outcome = preserved_outside_mask(context(with_object(plate), brighter, box_mask()), PreservedSettings())
    assert outcome.passed, outcome.detail


# Background replacement: a vase on a dark cafe background, kept on white, on a frame large enough (800 px) for
# the band next to the subject to be 12 px wide.
CAFE_SIZE = (800, 520)
VASE = (330, 110, 470, 430)


def cafe() -> Image.Image:
    rng = np.random.default_rng(11)
    pixels = np.array([70, 45, 30]) + rng.normal(0, 6, (CAFE_SIZE[1], CAFE_SIZE[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def vase_mask() -> Image.Image:
    mask = Image.new("L", CAFE_SIZE, 0)
    ImageDraw.Draw(mask).ellipse(VASE, fill=255)
    return mask


def with_vase(image: Image.Image) -> Image.Image:
    image = image.copy()
    ImageDraw.Draw(image).ellipse(VASE, fill=(90, 140, 200))
    return image


def on_white(source: Image.Image, keep: Image.Image) -> Image.Image:
    return Image.composite(source, Image.new("RGB", CAFE_SIZE, (255, 255, 255)), keep)


@pytest.mark.parametrize("ring", [2, 3])
def test_a_thin_ring_of_the_old_background_fails(ring: int) -> None:
    """P1-F15: a ring of 3 px or less is at most a quarter of the 12 px band next to the subject, the share allowed,
    but outlines all of it."""
    source = with_vase(cafe())
    result = on_white(source, vase_mask().filter(ImageFilter.MaxFilter(2 * ring + 1)))
    outcome = background_changed(context(source, result, vase_mask(), color="#ffffff"), BackgroundChangeSettings())
    assert not outcome.passed
    assert "ring of the old background" in outcome.detail
    assert outcome.severity in ("moderate", "severe")


@pytest.mark.parametrize("inset", [0, 2])
def test_a_clean_cut_out_or_a_mask_inside_the_vase_passes(inset: int) -> None:
    source = with_vase(cafe())
    mask = vase_mask().filter(ImageFilter.MinFilter(2 * inset + 1)) if inset else vase_mask()
    outcome = background_changed(
        context(source, on_white(source, vase_mask()), mask, color="#ffffff"), BackgroundChangeSettings()
    )
    assert outcome.passed, outcome.detail
