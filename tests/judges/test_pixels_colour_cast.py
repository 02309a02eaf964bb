"""Outside probe F9: a picture tinted as a whole (a photo of a person, a product or a room pushed green, magenta,
blue or yellow, as a broken white balance looks) fails ``colour_cast``, read on its whites and the greys that share
their tint. Mildly (amber) by default; severely (red) when the tint pushes the skin-toned surfaces out of every skin
tone (a green or a blue face). A colourful scene (a green forest, a blue sea, a red car, an orange flower, a lawn)
is no cast, nor is a tint the prompt asks for (sunset, neon, underwater, sepia, monochrome, a colour grade)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges import pixel_measures as measures
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_judge
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from tests.judges.test_pixel_detectors import astronaut, coffee, context, jpeg, judge
from tests.judges.test_pixel_verdicts import landscape

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

TINTS = {
    "green": (0, 255, 0),
    "magenta": (255, 0, 255),
    "blue": (0, 80, 255),
    "yellow": (255, 220, 0),
    "cyan": (0, 255, 255),
}


def blended(picture: np.ndarray, tint: str, strength: float) -> np.ndarray:
    """A tint laid over the whole picture: every pixel moved ``strength`` of the way to the tint's colour."""
    colour = np.array(TINTS[tint], np.float32)
    return np.clip(picture * (1 - strength) + colour * strength, 0, 255).round().astype(np.uint8)


def white_balanced(picture: np.ndarray, tint: str, strength: float) -> np.ndarray:
    """A wrong white balance: the linear-light channels scaled toward the tint's colour by ``strength``."""
    colour = np.array(TINTS[tint], np.float32) / 255
    gains = 1 + strength * (colour - colour.mean())
    linear = (picture / 255.0) ** 2.2 * gains
    return (np.clip(linear, 0, 1) ** (1 / 2.2) * 255).round().astype(np.uint8)


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / "photos" / name).convert("RGB"))


@cache
def room(side: int = 768, face: bool = True) -> np.ndarray:
    """A room under neutral light: a white wall shaded to grey, a window, a dark floor, a grey sofa, a white
    shirt and (``face``) a person's face and hands in a natural skin tone, with a light sensor grain."""
    image = Image.new("RGB", (side, side), (214, 214, 212))
    draw = ImageDraw.Draw(image)
    for row in range(side):  # the wall darkens toward the floor
        level = int(232 - 70 * row / side)
        draw.line((0, row, side, row), fill=(level, level, level - 2))
    draw.rectangle((int(side * 0.62), int(side * 0.1), int(side * 0.92), int(side * 0.45)), fill=(245, 245, 245))
    draw.rectangle((0, int(side * 0.78), side, side), fill=(70, 66, 64))
    draw.rectangle((int(side * 0.05), int(side * 0.55), int(side * 0.55), int(side * 0.8)), fill=(120, 120, 122))
    draw.rectangle((int(side * 0.24), int(side * 0.5), int(side * 0.42), int(side * 0.75)), fill=(236, 236, 234))
    if face:
        skin = (214, 164, 136)
        draw.ellipse((int(side * 0.26), int(side * 0.28), int(side * 0.4), int(side * 0.47)), fill=skin)
        draw.ellipse((int(side * 0.2), int(side * 0.64), int(side * 0.26), int(side * 0.7)), fill=skin)
        draw.ellipse((int(side * 0.4), int(side * 0.64), int(side * 0.46), int(side * 0.7)), fill=skin)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    grain = np.random.default_rng(7).normal(0, 2.0, (side, side, 1))
    return np.clip(np.asarray(image, np.float32) + grain, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# tinted pictures fail, mildly
# ---------------------------------------------------------------------------------------------------------------

PICTURES = {
    "astronaut": astronaut,
    "garage": lambda: photo("china.jpg"),
    "room": lambda: room(face=False),
}


@pytest.mark.parametrize("tint", ["green", "magenta", "blue", "yellow"])
@pytest.mark.parametrize("picture", PICTURES.values(), ids=PICTURES.keys())
def test_a_picture_tinted_as_a_whole_fails_naming_its_tint(picture, tint: str) -> None:
    outcome, severity = judge("colour_cast", blended(picture(), tint, 0.12))
    assert not outcome.passed, outcome.detail
    assert severity in ("mild", "severe")
    assert outcome.detail.startswith("the whole picture is tinted ")
    assert "a* " in outcome.detail and "b* " in outcome.detail
    assert isinstance(outcome.measured, float) and outcome.measured >= outcome.threshold  # type: ignore[operator]
    assert outcome.facts["tint"] in outcome.detail


@pytest.mark.parametrize(
    ("tint", "named"), [("green", "green"), ("magenta", "magenta"), ("blue", "blue"), ("cyan", "cyan")]
)
def test_the_tint_is_named_as_a_person_would_name_it(tint: str, named: str) -> None:
    outcome, _ = judge("colour_cast", blended(room(face=False), tint, 0.12))
    assert outcome.facts["tint"] == named, outcome.detail


@pytest.mark.parametrize("tint", ["green", "magenta", "blue"])
@pytest.mark.parametrize("strength", [0.3, 0.5])
def test_a_wrong_white_balance_fails(tint: str, strength: float) -> None:
    outcome, _ = judge("colour_cast", white_balanced(room(face=False), tint, strength))
    assert not outcome.passed, outcome.detail


def test_a_tint_without_skin_in_it_is_mild_and_survives_jpeg() -> None:
    tinted = jpeg(blended(room(face=False), "green", 0.12), 85)
    outcome, severity = judge("colour_cast", tinted)
    assert not outcome.passed and severity == "mild", outcome.detail
    assert "skin" not in outcome.detail


def test_a_light_tint_of_a_few_percent_passes() -> None:
    outcome, _ = judge("colour_cast", blended(room(face=False), "green", 0.03))
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# a face pushed out of every skin tone is severe
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tint", "reads"), [("green", "(green)"), ("blue", "b* −")])
def test_a_face_turned_green_or_blue_is_severe(tint: str, reads: str) -> None:
    outcome, severity = judge("colour_cast", blended(room(), tint, 0.25))
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "skin" in outcome.detail and reads in outcome.detail
    assert outcome.facts.get("skin")


@pytest.mark.parametrize("tint", ["magenta", "yellow"])
def test_a_face_a_tint_leaves_in_a_skin_tone_is_mild(tint: str) -> None:
    """Pink or sallow skin is still skin: the picture is tinted, but no face has turned green or blue."""
    outcome, severity = judge("colour_cast", blended(room(), tint, 0.12))
    assert not outcome.passed and severity == "mild", outcome.detail


def test_the_untinted_face_passes() -> None:
    outcome, _ = judge("colour_cast", room())
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# colourful scenes are not casts
# ---------------------------------------------------------------------------------------------------------------


def forest(side: int = 768) -> np.ndarray:
    """A green forest: leaves of several greens over the whole frame, brown trunks, no sky."""
    rng = np.random.default_rng(11)
    small = rng.uniform(0, 1, (side // 16, side // 16, 1)).astype(np.float32)
    leaves = np.asarray(Image.fromarray((small[..., 0] * 255).astype(np.uint8)).resize((side, side)), np.float32)
    shade = (leaves / 255)[..., None]
    picture = np.array([40, 90, 30], np.float32) + shade * np.array([80, 110, 40], np.float32)
    for x in rng.integers(0, side, 6):
        picture[:, x : x + side // 30] = np.array([92, 70, 50], np.float32) * (0.7 + 0.3 * shade[:, x : x + 1])
    return np.clip(picture, 0, 255).astype(np.uint8)


def sea(side: int = 768) -> np.ndarray:
    """A blue sea under a pale blue sky, glinting, with a little white foam."""
    rows = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
    sky = np.array([120, 170, 230], np.float32) + rows * np.array([90, 60, 20], np.float32)
    water = np.array([20, 70, 140], np.float32) + (1 - rows) * np.array([30, 50, 60], np.float32)
    picture = np.where(rows < 0.4, sky, water).repeat(side, axis=1)
    ripple = np.random.default_rng(4).normal(0, 6, (side, side, 1))
    return np.clip(picture + ripple, 0, 255).astype(np.uint8)


def red_car(side: int = 768) -> np.ndarray:
    """A red car on a grey road under a blue sky."""
    image = Image.fromarray(sea(side))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(side * 0.55), side, side), fill=(96, 96, 100))
    draw.rounded_rectangle((int(side * 0.2), int(side * 0.45), int(side * 0.8), int(side * 0.7)), 30, (200, 20, 30))
    for x in (0.3, 0.7):
        draw.ellipse((int(side * (x - 0.06)), int(side * 0.64), int(side * (x + 0.06)), int(side * 0.76)), (20, 20, 20))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1)))


COLOURFUL = {
    "forest": forest,
    "sea": sea,
    "red-car": red_car,
    "orange-dahlia": lambda: photo("flower.jpg"),
    "astronaut": astronaut,
    "coffee": coffee,
    "landscape-0": lambda: np.asarray(photo_scene(512, 0)),
    "landscape-3": lambda: np.asarray(photo_scene(512, 3)),
    "landscape-7": lambda: np.asarray(photo_scene(512, 7)),
    "lawn": lambda: np.asarray(Image.open(FIXTURES / "object-removal/accuracy/lawn-clean.jpg").convert("RGB")),
    "bricks": lambda: np.asarray(Image.open(FIXTURES / "object-removal/accuracy/brick-clean.jpg").convert("RGB")),
    "pastel-logo": lambda: np.asarray(
        Image.open(FIXTURES / "text-to-image/accuracy/small-logo-on-white.png").convert("RGB")
    ),
}


@pytest.mark.parametrize("scene", COLOURFUL.values(), ids=COLOURFUL.keys())
def test_a_colourful_scene_is_not_a_cast(scene) -> None:
    outcome, _ = judge("colour_cast", scene())
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("encoded", ["png", "jpeg-75"])
def test_a_grey_picture_is_neutral(encoded: str) -> None:
    grey = np.repeat(np.asarray(room(face=False)).mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    outcome, _ = judge("colour_cast", grey if encoded == "png" else jpeg(grey, 75))
    assert outcome.passed and outcome.measured is not None and outcome.measured < 2, outcome.detail


def test_a_black_frame_has_no_light_to_read() -> None:
    outcome, _ = judge("colour_cast", np.zeros((256, 256, 3), np.uint8))
    assert outcome.passed and outcome.measured is None, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# a tint the prompt asks for
# ---------------------------------------------------------------------------------------------------------------


def sepia(picture: np.ndarray) -> np.ndarray:
    grey = picture.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(grey[..., None] * np.array([1.05, 0.95, 0.82], np.float32), 0, 255).astype(np.uint8)


ASKED = {
    "a sepia portrait of a woman in her living room": lambda: sepia(room()),
    "an old photograph of a living room, sepia-toned": lambda: sepia(room()),
    "a living room at sunset, warm light through the window": lambda: blended(room(), "yellow", 0.2),
    "a neon-lit bar, pink and blue lights": lambda: blended(room(), "magenta", 0.2),
    "an underwater photo of a diver": lambda: blended(room(), "cyan", 0.2),
    "a monochrome green poster of a room": lambda: blended(room(), "green", 0.2),
    "a cinematic shot with a teal and orange colour grade": lambda: blended(room(), "cyan", 0.15),
    "a street at night under sodium lamps": lambda: blended(room(), "yellow", 0.2),
    "a blue-toned photo of a room": lambda: blended(room(), "blue", 0.15),
}


@pytest.mark.parametrize(("prompt", "scene"), ASKED.items(), ids=range(len(ASKED)))
def test_a_tint_the_prompt_asks_for_passes_naming_its_words(prompt: str, scene) -> None:
    picture = scene()
    failed, _ = judge("colour_cast", picture, params={"prompt": "a photo of a living room"})
    assert not failed.passed, failed.detail  # the same picture fails when nothing asks for its tint
    outcome, _ = judge("colour_cast", picture, params={"prompt": prompt})
    assert outcome.passed and "as the prompt asks" in outcome.detail, outcome.detail


def test_a_tint_the_prompt_refuses_still_fails() -> None:
    outcome, _ = judge("colour_cast", sepia(room()), params={"prompt": "a portrait, no sepia"})
    assert not outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# the text-to-image task runs it
# ---------------------------------------------------------------------------------------------------------------


def _pixels_vote(picture: np.ndarray, prompt: str):
    panel = Panel.from_dir(DATA_ROOT / "judges")
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    [pixels_judge] = [j for j in panel.judges if j.name == "pixels"]
    side = picture.shape[0]
    return run_judge(pixels_judge, rubric, context(picture, prompt=prompt, width=side, height=side))


def test_text_to_image_fails_a_green_portrait_with_a_fix_a_model_can_act_on() -> None:
    vote = _pixels_vote(blended(astronaut(), "green", 0.12), "portrait of an astronaut in a white suit")
    [cast] = [c for c in vote.criteria if c["id"] == "no-colour-cast"]
    assert cast["passed"] is False and cast["severity"] == "mild", cast
    assert cast["facts"]["tint"] == "green"


def test_text_to_image_passes_the_clean_portrait() -> None:
    vote = _pixels_vote(astronaut(), "portrait of an astronaut in a white suit")
    [cast] = [c for c in vote.criteria if c["id"] == "no-colour-cast"]
    assert cast["passed"] is True, cast


def test_the_measure_leaves_out_near_black_and_clipped_pixels() -> None:
    """Black bars and blown-out white read no tint: only what the light shows is measured."""
    picture = blended(room(face=False), "green", 0.12)
    framed = np.zeros((picture.shape[0] + 200, picture.shape[1], 3), np.uint8)
    framed[100:-100] = picture
    framed[:20] = 255
    alone, in_frame = measures.colour_cast(picture), measures.colour_cast(framed)
    assert abs(alone.a - in_frame.a) < 2 and abs(alone.b - in_frame.b) < 2


def grain(picture: np.ndarray, sigma: float) -> np.ndarray:
    """Heavy grey grain, softened over about two pixels (film grain)."""
    noise = np.random.default_rng(3).normal(0, sigma, picture.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.6)[..., None]
    return np.clip(picture + noise, 0, 255).astype(np.uint8)


def test_heavy_grain_is_no_tint_and_a_grainy_tinted_picture_still_is() -> None:
    """The brightest of grainy pixels are the ones the grain lifted: a grainy picture's whites are read on block
    means, so the grain asked for ("heavy film grain") adds no cast, and a tint under grain still shows."""
    outcome, _ = judge("colour_cast", grain(landscape(), 45), params={"prompt": "hills, heavy film grain"})
    assert outcome.passed, outcome.detail
    tinted, _ = judge("colour_cast", grain(blended(room(face=False), "green", 0.12), 30))
    assert not tinted.passed and tinted.facts["tint"] == "green", tinted.detail
