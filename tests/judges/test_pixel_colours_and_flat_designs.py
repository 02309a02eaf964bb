"""The pixels judge reads colour, not only brightness: red letters on a green sign of the same luminance, a red ball
on a green lawn, a background replaced by the asked green are pictures (not blank, not blurred), while one flat
colour, a faint noise field and a plain white or black frame stay blank. A flat graphic drawn in bands (a tricolour
flag, a gradient, stripes) is neither "copies side by side", nor pillarbox bars, nor a cut-off generation, while
tiled copies of a photo, real bars of one colour and a picture that stops part way still are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_judge
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from tests.judges.test_pixel_detectors import astronaut, coffee, context, jpeg, judge, tiled

BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

# ---------------------------------------------------------------------------------------------------------------
# colours of one brightness
# ---------------------------------------------------------------------------------------------------------------


def sign(text: str, background: tuple[int, int, int], ink: tuple[int, int, int], size: int = 120) -> np.ndarray:
    """A 1024×768 sign: ``text`` in DejaVu Sans Bold, centred."""
    image = Image.new("RGB", (1024, 768), background)
    ImageDraw.Draw(image).text((512, 384), text, font=ImageFont.truetype(str(BOLD), size), fill=ink, anchor="mm")
    return np.asarray(image)


def ball(background: tuple[int, int, int], colour: tuple[int, int, int], radius: int = 150) -> np.ndarray:
    image = Image.new("RGB", (1024, 768), background)
    ImageDraw.Draw(image).ellipse((512 - radius, 384 - radius, 512 + radius, 384 + radius), fill=colour)
    return np.asarray(image)


def luminance_spread(rgb: np.ndarray) -> float:
    return float((rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).std())


ONE_BRIGHTNESS = {
    "red-on-green-sign": lambda: sign("MERRY XMAS", (0, 120, 0), (200, 30, 30)),
    "magenta-on-teal-sign": lambda: sign("Neon Bar", (0, 150, 150), (230, 40, 200), 150),
    "red-ball-on-green": lambda: ball((0, 128, 0), (200, 30, 30)),
    "green-ball-on-red": lambda: ball((200, 30, 30), (0, 128, 0)),
}


@pytest.mark.parametrize("scene", ONE_BRIGHTNESS.values(), ids=ONE_BRIGHTNESS.keys())
@pytest.mark.parametrize("encoded", ["png", "jpeg-90"])
def test_colours_of_one_brightness_are_a_sharp_picture_not_a_blank_one(scene, encoded: str) -> None:
    picture = scene()
    assert luminance_spread(picture) < 4  # flat in brightness: what the old check read as blank
    pixels_ = picture if encoded == "png" else jpeg(picture, 90)
    blank, _ = judge("not_blank", pixels_)
    assert blank.passed, blank.detail
    assert "colours vary" in blank.detail
    sharp, _ = judge("sharp", pixels_)
    assert sharp.passed, sharp.detail


@pytest.mark.parametrize("scene", ONE_BRIGHTNESS.values(), ids=ONE_BRIGHTNESS.keys())
def test_colours_of_one_brightness_blurred_are_still_severely_blurred(scene) -> None:
    blurred = np.asarray(Image.fromarray(scene()).filter(ImageFilter.GaussianBlur(3)))
    outcome, severity = judge("sharp", blurred)
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "in its colour edges" in outcome.detail


def test_a_colourful_sign_of_one_brightness_passes_the_whole_pixels_judge() -> None:
    """What the customer sees: no pixel criterion of text-to-image fails, so the image is not regenerated with
    "the last image was blank" as its fix."""
    panel = Panel.from_dir(DATA_ROOT / "judges")
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    [pixels_judge] = [j for j in panel.judges if j.name == "pixels"]
    vote = run_judge(pixels_judge, rubric, context(sign("SALE", (20, 140, 40), (230, 40, 40), 200)))
    failed = [c for c in vote.criteria if c["passed"] is False]
    assert vote.passed is True and not failed, failed


def flat(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((768, 1024, 3), colour, np.uint8)


def noise_field(sigma: float, colour: bool) -> np.ndarray:
    rng = np.random.default_rng(3)
    shape = (768, 1024, 3) if colour else (768, 1024, 1)
    return np.clip(128 + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8).repeat(1 if colour else 3, axis=2)


BLANK = {
    "white": lambda: flat((255, 255, 255)),
    "black": lambda: flat((0, 0, 0)),
    "flat-red": lambda: flat((200, 30, 30)),
    "flat-green": lambda: flat((0, 128, 0)),
    "faint-grey-noise": lambda: noise_field(2.0, colour=False),
    "faint-colour-noise": lambda: noise_field(5.0, colour=True),
    "green-with-a-red-speck": lambda: ball((0, 128, 0), (200, 30, 30), radius=20),
}


@pytest.mark.parametrize("scene", BLANK.values(), ids=BLANK.keys())
def test_one_flat_colour_or_faint_noise_is_still_severely_blank(scene) -> None:
    outcome, severity = judge("not_blank", scene())
    assert not outcome.passed and severity == "severe", outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# flat designs drawn in bands
# ---------------------------------------------------------------------------------------------------------------


def bands(
    colours: list[tuple[int, int, int]], vertical: bool = True, size: tuple[int, int] = (1024, 683)
) -> np.ndarray:
    """Equal flat bands of ``colours``, side by side (``vertical``) or one above the other."""
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    for index, colour in enumerate(colours):
        if vertical:
            image[:, index * width // len(colours) : (index + 1) * width // len(colours)] = colour
        else:
            image[index * height // len(colours) : (index + 1) * height // len(colours)] = colour
    return image


def gradient(vertical: bool) -> np.ndarray:
    ramp = np.linspace(0, 255, 768 if vertical else 1024).astype(np.uint8)
    grey = np.tile(ramp[:, None], (1, 1024)) if vertical else np.tile(ramp, (768, 1))
    return np.repeat(grey[..., None], 3, axis=2)


DESIGNS = {
    "italian-flag": lambda: bands([(0, 146, 70), (255, 255, 255), (206, 43, 55)]),
    "french-flag": lambda: bands([(0, 85, 164), (255, 255, 255), (239, 65, 53)]),
    "peru-flag": lambda: bands([(217, 16, 35), (255, 255, 255), (217, 16, 35)]),
    "german-flag": lambda: bands([(0, 0, 0), (221, 0, 0), (255, 206, 0)], vertical=False),
    "austrian-flag": lambda: bands([(200, 16, 46), (255, 255, 255), (200, 16, 46)], vertical=False),
    "stripes": lambda: bands([(200, 30, 30), (240, 240, 240)] * 4),
    "gradient-across": lambda: gradient(vertical=False),
    "gradient-down": lambda: gradient(vertical=True),
}


@pytest.mark.parametrize("scene", DESIGNS.values(), ids=DESIGNS.keys())
@pytest.mark.parametrize("check", ["tiling", "borders", "truncated"])
def test_a_design_drawn_in_flat_bands_is_no_tiling_bars_or_cut(scene, check: str) -> None:
    outcome, _ = judge(check, scene())
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize(("across", "down"), [(2, 1), (1, 2), (3, 1)])
def test_copies_of_a_photo_side_by_side_are_still_tiling(across: int, down: int) -> None:
    outcome, severity = judge("tiling", tiled(coffee(), across, down))
    assert not outcome.passed and severity == "severe", outcome.detail


def test_bars_of_two_colours_are_not_called_bars_of_one() -> None:
    photo = astronaut().copy()
    photo[:, :150] = (0, 146, 70)
    photo[:, -150:] = (206, 43, 55)  # the same luminance as the green, another colour
    outcome, _ = judge("borders", photo)
    assert "pillarbox" not in outcome.detail


@pytest.mark.parametrize("colour", [(0, 0, 0), (206, 43, 55)])
def test_bars_of_one_colour_around_a_photo_are_still_bars(colour: tuple[int, int, int]) -> None:
    photo = astronaut().copy()
    photo[:, :150] = colour
    photo[:, -150:] = colour
    outcome, severity = judge("borders", jpeg(photo, 90))
    assert not outcome.passed and outcome.facts["kind"] == "pillarbox" and severity == "severe"
    boxed = astronaut().copy()
    boxed[:150] = colour
    boxed[-150:] = colour
    outcome, _ = judge("borders", boxed)
    assert not outcome.passed and outcome.facts["kind"] == "letterbox"


def test_a_photo_that_stops_part_way_beside_a_flat_band_is_still_cut_off() -> None:
    """A flat band on the other edge (a plain bar of sky) does not make a cut-off generation a design."""
    cut = coffee().copy()
    cut[:, -200:] = 128
    cut[:, :60] = (20, 40, 160)
    outcome, _ = judge("truncated", cut)
    assert not outcome.passed and outcome.facts["side"] == "right", outcome.detail
