"""A generation that broke down is red under text-to-image, with a fix an image model can act on: flat squares of
solid colour pasted over the picture (a corrupted latent), rows or columns smeared into flat streaks, part of the
frame dissolved into noise, a tiny picture blown up into square pixels. Clean photos, product shots on white, signs,
flat graphics and patterns are left alone."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data

from sentinel.evaluation.guidance import render_fix
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_panel
from sentinel.providers.local import render
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from tests.judges.test_pixel_detectors import FIXTURES, chessboard, context, encode, fixture, jpeg, judge, mandala

PROMPT = {"prompt": "a portrait of an astronaut"}


def photo(name: str = "astronaut", width: int = 1024, height: int = 1024) -> np.ndarray:
    """A skimage sample photo (or ``hopper``, the fixtures' portrait) resized to ``width``×``height``."""
    if name == "hopper":
        picture = Image.open(FIXTURES / "photos/grace_hopper.jpg")
    else:
        picture = Image.fromarray(getattr(data, name)())
    return np.asarray(picture.convert("RGB").resize((width, height), Image.LANCZOS))


def flat_blocks(
    base: np.ndarray, tile: int, share: float = 0.4, colour: str = "random", seed: int = 3, offset: int = 0
) -> np.ndarray:
    """``share`` of the ``tile``-px squares of a grid replaced by one flat colour each."""
    broken = base.copy()
    rng = np.random.default_rng(seed)
    for top in range(offset, broken.shape[0], tile):
        for left in range(offset, broken.shape[1], tile):
            if rng.random() < share:
                fill = {"random": rng.integers(0, 256, 3), "black": 0, "grey": 128}[colour]
                broken[top : top + tile, left : left + tile] = fill
    return broken


def streaked(base: np.ndarray, start: float, period: int, thickness: int, columns: bool = False) -> np.ndarray:
    """From ``start`` (share of the height) down, every ``period``-th line band smeared into its first pixel's
    colour across the whole width (or, ``columns``, the same across the width of the image)."""
    broken = (base.transpose(1, 0, 2) if columns else base).copy()
    for line in range(round(start * broken.shape[0]), broken.shape[0], period):
        broken[line : line + thickness] = broken[line, 0]
    return np.ascontiguousarray(broken.transpose(1, 0, 2) if columns else broken)


def part_noise(base: np.ndarray, region: str, kind: str, seed: int = 1) -> np.ndarray:
    broken = base.copy()
    height, width = broken.shape[:2]
    where = {
        "bottom half": np.s_[height // 2 :, :],
        "right half": np.s_[:, width // 2 :],
        "top-left quarter": np.s_[: height // 2, : width // 2],
        "centre ninth": np.s_[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3],
    }[region]
    rng = np.random.default_rng(seed)
    shape = broken[where].shape
    if kind == "uniform colour":
        broken[where] = rng.integers(0, 256, shape, dtype=np.uint8)
    elif kind == "grey gaussian":
        broken[where] = np.clip(rng.normal(128, 60, shape[:2]), 0, 255).astype(np.uint8)[..., None]
    elif kind == "salt and pepper":
        picked = rng.random(shape[:2])
        part = broken[where]
        part[picked < 0.15], part[picked > 0.85] = 0, 255
        broken[where] = part
    else:  # heavy grain added over the picture
        broken[where] = np.clip(broken[where] + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)
    return broken


def blown_up(base: np.ndarray, side: int, resample: Image.Resampling = Image.NEAREST) -> np.ndarray:
    height, width = base.shape[:2]
    small = Image.fromarray(base).resize((side, max(1, round(side * height / width))), Image.BOX)
    return np.asarray(small.resize((width, height), resample))


def judged(picture: np.ndarray, params: dict[str, Any] = PROMPT) -> tuple[str, dict[str, dict[str, Any]]]:
    """The text-to-image rubric's verdict on the picture, and each criterion's vote."""
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    image = context(encode(picture)).image
    assert isinstance(image, ImageSource)
    panel = Panel.from_dir(DATA_ROOT / "judges")
    verdict, votes = run_panel(panel, rubric, lambda judge: JudgeContext(image=image, params=params), 1.0)
    return verdict.verdict, {c["id"]: c for v in votes for c in v.criteria}


def fix_of(criterion_id: str, vote: dict[str, Any]) -> str:
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    return render_fix(next(c for c in rubric.criteria if c.id == criterion_id), vote, PROMPT)


def test_the_outside_probes_broken_images_are_red_and_say_what_broke() -> None:
    base = photo()
    expected = {
        "not-broken": (flat_blocks(base, 64), "flat rectangles of solid colour"),
        "no-noise": (part_noise(base, "bottom half", "uniform colour"), "part of the image is noise"),
        "not-pixelated": (blown_up(base, 32), "a picture of about 32×32 px blown up"),
    }
    for criterion, (picture, words) in expected.items():
        verdict, votes = judged(picture)
        assert verdict == "red", criterion
        assert votes[criterion]["severity"] == "severe"
        assert words in votes[criterion]["detail"]
    verdict, votes = judged(streaked(base, 0.3, 7, 3))
    assert verdict == "red"
    assert "20% of its rows are smeared into one flat colour" in votes["not-broken"]["detail"]
    assert fix_of("not-broken", votes["not-broken"]) == (
        "Render the whole picture as one clean, continuous scene; the last image broke down into rows smeared into "
        "streaks of flat colour."
    )


@pytest.mark.parametrize("tile", [16, 32, 48, 100, 128])
@pytest.mark.parametrize("colour", ["random", "black", "grey"])
def test_flat_blocks_of_any_size_and_colour_are_severe(tile: int, colour: str) -> None:
    outcome, severity = judge("broken_regions", flat_blocks(photo("coffee", 1024, 768), tile, 0.25, colour, offset=7))
    assert severity == "severe", outcome.detail


def test_flat_blocks_are_found_after_jpeg_compression() -> None:
    outcome, severity = judge("broken_regions", jpeg(flat_blocks(photo("chelsea"), 64, 0.3), 90))
    assert severity in ("moderate", "severe"), outcome.detail


@pytest.mark.parametrize(
    ("start", "period", "thickness", "columns"), [(0.3, 7, 3, False), (0.5, 9, 2, False), (0.0, 5, 1, True)]
)
def test_smeared_streaks_across_and_down_are_severe(start: float, period: int, thickness: int, columns: bool) -> None:
    outcome, severity = judge("broken_regions", streaked(photo("rocket", 1024, 768), start, period, thickness, columns))
    assert severity == "severe", outcome.detail
    assert ("columns" if columns else "rows") in outcome.facts["what"]


@pytest.mark.parametrize("region", ["bottom half", "right half", "top-left quarter", "centre ninth"])
@pytest.mark.parametrize("kind", ["uniform colour", "grey gaussian", "salt and pepper", "heavy grain"])
def test_part_of_the_frame_in_noise_is_severe(region: str, kind: str) -> None:
    outcome, severity = judge("noise", part_noise(photo("hopper", 768, 1024), region, kind))
    assert severity == "severe", outcome.detail
    assert outcome.facts.get("patch"), outcome.detail


@pytest.mark.parametrize(("side", "expected"), [(16, "severe"), (32, "severe"), (48, "severe"), (128, "moderate")])
@pytest.mark.parametrize("resample", [Image.NEAREST, Image.BOX])
def test_a_tiny_picture_blown_up_into_square_pixels_is_graded_by_its_resolution(
    side: int, expected: str, resample: Image.Resampling
) -> None:
    outcome, severity = judge("pixelated", blown_up(photo("astronaut", 1024, 768), side, resample))
    assert severity == expected, outcome.detail
    across, _ = outcome.facts["effective"].split("×")
    assert abs(int(across) - side) <= 2


def test_a_blown_up_picture_is_found_after_jpeg_and_a_smooth_blow_up_is_blur() -> None:
    _, severity = judge("pixelated", jpeg(blown_up(photo(), 40), 90))
    assert severity == "severe"
    verdict, votes = judged(blown_up(photo(), 40, Image.BICUBIC))
    assert verdict == "red" and votes["sharp"]["severity"] == "severe"


def clean_pictures() -> dict[str, np.ndarray]:
    pictures = {
        "astronaut": photo(),
        "china, native size": fixture("photos/china.jpg"),
        "grace hopper": fixture("photos/grace_hopper.jpg"),
        "camera, native size": np.stack([data.camera()] * 3, axis=-1),
        "grass, native size": np.stack([data.grass()] * 3, axis=-1),
        "brick": photo("brick"),
        "chessboard": chessboard(),
        "mandala": mandala(),
        "horse silhouette": photo("horse"),
        "sign": fixture("text-render/open-24-7.jpg"),
        "product on white": fixture("product-white-background/good.jpg"),
        "dark print on white": fixture("product-white-background/accuracy/dark-print.jpg"),
    }
    for prompt in ("a red apple", 'a sign that says "OPEN"', "a blue star at sunset"):
        pictures[f"local: {prompt}"] = np.asarray(Image.open(io.BytesIO(render(prompt, 1024, 1024, 1))).convert("RGB"))
    return pictures


@pytest.mark.parametrize("name", list(clean_pictures()))
def test_clean_photos_graphics_and_patterns_are_not_broken(name: str) -> None:
    picture = clean_pictures()[name]
    for check in ("broken_regions", "pixelated", "noise"):
        outcome, _ = judge(check, picture)
        assert outcome.passed or (check == "noise" and not outcome.facts.get("patch")), (check, outcome.detail)
