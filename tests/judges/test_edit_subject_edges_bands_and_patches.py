"""Edit verdicts an outside probe found green though a person would not pass them: a kept subject cut back all round
(its edge lies in the blend margin the subject's measures leave out), a dark or light bar drawn across an otherwise
good removal fill, and a flat patch set inside a fill that is textured by the mask's edge. Each beside its clean
counterpart, on generated scenes of several sizes and textures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from sentinel.evaluation.judges.edit import (
    FillSettings,
    SubjectSettings,
    fill_matches_surroundings,
    subject_preserved,
)
from tests.support.edit_inputs import context


def grass(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(1)
    coarse = Image.fromarray(rng.integers(0, 255, (height // 16, width // 16), dtype=np.uint8))
    blades = Image.fromarray(rng.integers(0, 255, (height // 6, width), dtype=np.uint8))
    light = (np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32) - 128) * 0.2
    light += (np.asarray(blades.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32) - 128) * 0.25
    light += rng.normal(0, 14, (height, width))
    pixels = np.array([70, 125, 55]) + light[..., None] * np.array([0.8, 1.0, 0.6])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def bricks(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(5)
    pixels = np.zeros((height, width, 3), dtype=np.float32)
    for row in range(0, height, 24):
        offset = 0 if (row // 24) % 2 else 24
        for col in range(-48, width, 48):
            shade = np.array([150, 70, 50]) if rng.random() < 0.5 else np.array([130, 60, 45])
            pixels[row : row + 24, max(0, col + offset) : max(0, col + offset + 48)] = shade
            pixels[row : row + 24, max(0, col + offset - 1) : max(0, col + offset + 2)] = (200, 195, 185)
        pixels[row : row + 3] = (200, 195, 185)
    pixels += rng.normal(0, 1.5, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def sand(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(3)
    coarse = Image.fromarray(rng.integers(0, 255, (height // 40, width // 40), dtype=np.uint8))
    light = (np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC)).astype(np.float32) - 128) * 0.12
    pixels = np.array([200, 175, 130]) + (light + rng.normal(0, 10, (height, width)))[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def fabric(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:height, 0:width]
    weave = 18 * np.sin(x * 2 * np.pi / 6) * np.sign(np.sin(y * 2 * np.pi / 12)) + 12 * np.sin(y * 2 * np.pi / 6)
    pixels = np.array([60, 70, 140]) + (weave + rng.normal(0, 5, (height, width)))[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def sky(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(4)
    share = np.linspace(0, 1, height)[:, None, None]
    pixels = (np.array([110, 160, 225]) * (1 - share) + np.array([190, 215, 240]) * share).repeat(width, axis=1)
    return Image.fromarray(np.clip(pixels + rng.normal(0, 2, pixels.shape), 0, 255).astype(np.uint8))


SCENES = {"grass": grass, "bricks": bricks, "sand": sand, "fabric": fabric, "sky": sky}
#: Frame sizes with the mask of the object removed in each.
FRAMES = {
    "1024 square": ((1024, 1024), (350, 350, 650, 650)),
    "640x480": ((640, 480), (220, 160, 420, 330)),
}


def removal(scene: str, frame: str, result_of: object, scenes: dict[str, object] | None = None) -> tuple[bool, str]:
    """The scene (of ``scenes``, these tests' own by default) with an object in the mask as the source;
    ``result_of(plate, box)`` the result."""
    (width, height), box = FRAMES[frame]
    plate = (scenes or SCENES)[scene](width, height)  # type: ignore[operator]
    source = plate.copy()
    inner = (box[0] + 20, box[1] + 20, box[2] - 20, box[3] - 20)
    ImageDraw.Draw(source).rectangle(inner, fill=(60, 60, 70), outline=(230, 230, 230), width=4)
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    result = result_of(plate.copy(), box)  # type: ignore[operator]
    outcome = fill_matches_surroundings(context(source, result, mask), FillSettings())
    return outcome.passed, outcome.detail


def clean(plate: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    return plate


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("scene", SCENES)
def test_a_clean_removal_still_matches_its_surroundings(scene: str, frame: str) -> None:
    passed, detail = removal(scene, frame, clean)
    assert passed, detail


def with_bar(colour: tuple[int, int, int], thickness: int, vertical: bool = False) -> object:
    def draw(plate: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        left, top, right, bottom = box
        if vertical:
            middle = (left + right) // 2 - thickness // 2
            ImageDraw.Draw(plate).rectangle((middle, top + 8, middle + thickness - 1, bottom - 8), fill=colour)
        else:
            middle = (top + bottom) // 2 - thickness // 2
            ImageDraw.Draw(plate).rectangle((left + 8, middle, right - 8, middle + thickness - 1), fill=colour)
        return plate

    return draw


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize(
    ("colour", "thickness"),
    [((20, 20, 20), 8), ((20, 20, 20), 6), ((235, 235, 235), 8), ((25, 25, 30), 10)],
    ids=["dark 8 px", "dark 6 px", "light 8 px", "dark 10 px"],
)
def test_a_bar_across_the_fill_fails(scene: str, frame: str, colour: tuple[int, int, int], thickness: int) -> None:
    """Finding 2: a bar a few pixels tall is a small share of the fill, in colours the scene may have."""
    passed, detail = removal(scene, frame, with_bar(colour, thickness))
    assert not passed
    assert "band crosses the fill" in detail, detail


@pytest.mark.parametrize("scene", ["grass", "bricks"])
def test_a_vertical_bar_fails_and_says_where(scene: str) -> None:
    passed, detail = removal(scene, "1024 square", with_bar((20, 20, 20), 8, vertical=True))
    assert not passed
    assert "dark vertical band" in detail, detail


def test_a_fill_with_its_brick_courses_a_few_pixels_off_is_no_bar() -> None:
    """A fill whose courses do not line up with the wall's differs on every mortar line, not on one bar."""

    def shifted(plate: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        pixels = np.asarray(plate).copy()
        left, top, right, bottom = box
        pixels[top : bottom + 1, left : right + 1] = np.roll(pixels, 5, axis=0)[top : bottom + 1, left : right + 1]
        return Image.fromarray(pixels)

    _, detail = removal("bricks", "1024 square", shifted)
    assert "band crosses" not in detail, detail


def flat_patch(inset: int) -> object:
    """The fill textured by the mask's edge, flat (the region's mean colour) from ``inset`` px in."""

    def paint(plate: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        pixels = np.asarray(plate).copy()
        left, top, right, bottom = box
        region = pixels[top : bottom + 1, left : right + 1]
        pixels[top + inset : bottom + 1 - inset, left + inset : right + 1 - inset] = region.reshape(-1, 3).mean(axis=0)
        return Image.fromarray(pixels)

    return paint


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("scene", ["grass", "bricks", "sand", "fabric"])
def test_a_flat_patch_inset_50px_fails(scene: str, frame: str) -> None:
    """Finding 3: the fill's median texture is read over all of it, and its textured edge kept it up."""
    passed, detail = removal(scene, frame, flat_patch(50))
    assert not passed
    assert "flat" in detail, detail


def test_a_flat_patch_inset_80px_on_a_300px_mask_fails() -> None:
    passed, detail = removal("grass", "1024 square", flat_patch(80))
    assert not passed
    assert "flat" in detail, detail


def test_a_flat_fill_of_a_flat_sky_passes() -> None:
    passed, detail = removal("sky", "1024 square", flat_patch(50))
    assert passed, detail


def test_a_softened_fill_on_grass_passes() -> None:
    def soft(plate: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        mask = Image.new("L", plate.size, 0)
        ImageDraw.Draw(mask).rectangle(box, fill=255)
        return Image.composite(plate.filter(ImageFilter.GaussianBlur(2)), plate, mask)

    passed, detail = removal("grass", "1024 square", soft)
    assert passed, detail


# Background replacement: a subject (white = keep) on a busy backdrop, kept on a new background.
def backdrop(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(3)
    blocks = rng.integers(40, 200, (height // 32, width // 32, 3), dtype=np.uint8)
    coarse = Image.fromarray(blocks).resize((width, height), Image.Resampling.NEAREST)
    return Image.fromarray(np.clip(np.asarray(coarse) + rng.normal(0, 4, (height, width, 3)), 0, 255).astype(np.uint8))


def subject_shape(size: tuple[int, int], shape: str) -> Image.Image:
    width, height = size
    mask = Image.new("L", size, 0)
    box = (int(width * 0.3), int(height * 0.2), int(width * 0.7), int(height * 0.85))
    if shape == "vase":
        ImageDraw.Draw(mask).ellipse(box, fill=255)
    else:
        ImageDraw.Draw(mask).rounded_rectangle(box, radius=width // 20, fill=255)
    return mask


def with_subject(image: Image.Image, keep: Image.Image) -> Image.Image:
    """A textured orange subject (stripes) where ``keep`` is white."""
    width, height = image.size
    y = np.arange(height)[:, None, None]
    stripes = np.array([230, 140, 40]) + 25 * np.sin(y / 5.0)
    subject = Image.fromarray(np.clip(np.broadcast_to(stripes, (height, width, 3)), 0, 255).astype(np.uint8))
    return Image.composite(subject, image, keep)


def kept_on(
    size: tuple[int, int], shape: str, erode: int, new_background: tuple[int, int, int] = (255, 255, 255)
) -> tuple[bool, str, str | None]:
    mask = subject_shape(size, shape)
    source = with_subject(backdrop(*size), mask)
    keep = mask.filter(ImageFilter.MinFilter(2 * erode + 1)) if erode else mask
    result = Image.composite(source, Image.new("RGB", size, new_background), keep)
    outcome = subject_preserved(context(source, result, mask, color="#ffffff"), SubjectSettings())
    return outcome.passed, outcome.detail, outcome.severity


@pytest.mark.parametrize("size", [(1024, 1024), (800, 600)], ids=["1024", "800x600"])
@pytest.mark.parametrize("shape", ["vase", "box"])
@pytest.mark.parametrize("erode", [4, 5, 8])
def test_a_subject_eroded_all_round_fails(size: tuple[int, int], shape: str, erode: int) -> None:
    """Finding 1: the band the new background took lies in the blend margin the subject's SSIM leaves out."""
    passed, detail, severity = kept_on(size, shape, erode)
    assert not passed
    assert "outline was cut back" in detail, detail
    assert severity == "moderate"


def test_a_subject_eroded_onto_a_dark_new_background_fails() -> None:
    passed, detail, _ = kept_on((1024, 1024), "vase", 5, new_background=(30, 30, 40))
    assert not passed, detail


@pytest.mark.parametrize("erode", [0, 1])
@pytest.mark.parametrize("shape", ["vase", "box"])
def test_a_clean_or_softly_cut_subject_passes(shape: str, erode: int) -> None:
    passed, detail, _ = kept_on((1024, 1024), shape, erode)
    assert passed, detail


def test_a_keep_mask_drawn_loosely_round_the_subject_is_no_erosion() -> None:
    """The mask 8 px outside the subject: the old background inside it is rightly replaced."""
    size = (1024, 1024)
    subject = subject_shape(size, "vase")
    source = with_subject(backdrop(*size), subject)
    loose = subject.filter(ImageFilter.MaxFilter(17))
    result = Image.composite(source, Image.new("RGB", size, (255, 255, 255)), subject)
    outcome = subject_preserved(context(source, result, loose, color="#ffffff"), SubjectSettings())
    assert outcome.passed, outcome.detail
