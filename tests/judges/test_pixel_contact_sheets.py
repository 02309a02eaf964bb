"""A grid of different pictures is not one picture: four (or nine, or two) photos separated by straight flat gutters
(a contact sheet, a grid of variations) or pasted edge to edge fail text-to-image's no-tiling, severe for a grid
both ways and moderate for one gutter. Pictures whose straight lines are part of one scene stay clean: two products
on one white backdrop, a horizon, a white wall with a framed poster, a sign with a white border, a comic panel with
its border, a view through a painted window frame.

A layout the prompt asks for ("a diptych", "a 2x2 grid of", "before and after", "a comic strip") is what was ordered:
its gutters and seams pass. A layout nobody asked for, or one the prompt refuses ("not a collage"), still fails, and
copies of one picture fail whatever the prompt says (four copies are no grid of four pictures)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import run_judge
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from tests.judges.test_pixel_detectors import context, jpeg, judge

# ---------------------------------------------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------------------------------------------


@cache
def _photos() -> tuple[np.ndarray, ...]:
    return (
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.rocket(),
        data.immunohistochemistry(),
        np.stack([data.camera()] * 3, axis=-1),
        data.hubble_deep_field(),
        data.retina(),
        data.cat(),
    )


def photo(index: int, width: int, height: int) -> np.ndarray:
    """The ``index``-th of nine different photos, resized to ``width`` × ``height``."""
    source = _photos()[index % len(_photos())]
    return np.array(Image.fromarray(source).resize((width, height), Image.LANCZOS))


def sheet(
    across: int,
    down: int,
    gutter: int = 8,
    colour: tuple[int, int, int] = (255, 255, 255),
    side: int = 1024,
) -> np.ndarray:
    """``across`` × ``down`` different photos separated by ``gutter`` px of ``colour`` (none when 0), edge to edge."""
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = colour
    cell_w, cell_h = (side - gutter * (across - 1)) // across, (side - gutter * (down - 1)) // down
    for row in range(down):
        for col in range(across):
            y, x = row * (cell_h + gutter), col * (cell_w + gutter)
            width = side - x if col == across - 1 else cell_w
            height = side - y if row == down - 1 else cell_h
            canvas[y : y + height, x : x + width] = photo(row * across + col, width, height)
    return canvas


def tiling(pixels_: np.ndarray, prompt: str | None = None) -> tuple[bool, str | None, str]:
    params = {} if prompt is None else {"prompt": prompt}
    outcome, severity = judge("tiling", pixels_, params=params)
    return outcome.passed, severity, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# grids fail
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [None, 90, 60], ids=["png", "jpeg-90", "jpeg-60"])
@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0)], ids=["white", "black"])
def test_a_2x2_contact_sheet_with_gutters_is_severe(colour: tuple[int, int, int], quality: int | None) -> None:
    picture = sheet(2, 2, colour=colour)
    passed, severity, detail = tiling(picture if quality is None else jpeg(picture, quality))
    assert not passed and severity == "severe", detail
    assert "2×2 grid of separate pictures" in detail
    assert "contact sheet" in detail


def test_a_3x3_contact_sheet_is_severe() -> None:
    passed, severity, detail = tiling(sheet(3, 3, gutter=12))
    assert not passed and severity == "severe", detail
    assert "3×3 grid" in detail


@pytest.mark.parametrize(("across", "down", "words"), [(2, 1, "side by side"), (1, 2, "stacked")])
@pytest.mark.parametrize("gutter", [2, 16])
def test_two_pictures_split_by_one_gutter_fail_moderately(across: int, down: int, words: str, gutter: int) -> None:
    passed, severity, detail = tiling(sheet(across, down, gutter=gutter))
    assert not passed and severity == "moderate", detail
    assert f"2 separate pictures {words}" in detail


def test_a_grid_pasted_edge_to_edge_is_severe() -> None:
    """No gutters: two straight seams cross (it was one moderate "seam")."""
    passed, severity, detail = tiling(sheet(2, 2, gutter=0))
    assert not passed and severity == "severe", detail
    assert "grid of separate pictures pasted edge to edge" in detail


def test_a_contact_sheet_is_red_for_text_to_image() -> None:
    """What the caller sees: the pixels judge's vote on a text-to-image contact sheet carries a severe failure."""
    panel = Panel.from_dir(DATA_ROOT / "judges")
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    [pixels_judge] = [j for j in panel.judges if j.name == "pixels"]
    vote = run_judge(pixels_judge, rubric, context(sheet(2, 2)))
    failed = [c for c in vote.criteria if c["passed"] is False]
    assert vote.passed is False
    assert [(c["id"], c["severity"]) for c in failed] == [("no-tiling", "severe")], failed


# ---------------------------------------------------------------------------------------------------------------
# straight lines inside one scene pass
# ---------------------------------------------------------------------------------------------------------------


def _grain(picture: np.ndarray, sigma: float = 2.0, seed: int = 3) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, picture.shape)
    return np.clip(picture.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def product_pair() -> np.ndarray:
    """Two shoes side by side on a white backdrop with a white gap between them."""
    image = Image.new("RGB", (1024, 1024), (255, 255, 255))
    for x in (120, 560):
        shoe = Image.fromarray(photo(1, 344, 300)).convert("RGB")
        mask = Image.new("L", shoe.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 60, 343, 299), radius=90, fill=255)
        image.paste(shoe, (x, 380), mask)
    return np.asarray(image)


def horizon() -> np.ndarray:
    """A sky gradient over a textured sea, meeting along a straight horizon at 45%."""
    sky = np.linspace(150, 225, 460)[:, None, None] * np.array([0.75, 0.88, 1.0])
    sea = photo(4, 1024, 564).astype(np.float32) * np.array([0.4, 0.6, 0.9])
    return np.concatenate([np.broadcast_to(sky, (460, 1024, 3)), sea]).astype(np.uint8)


def poster_on_white_wall() -> np.ndarray:
    """A framed poster hanging on a plain white wall, with a floor below."""
    wall = np.full((1024, 1024, 3), 246, np.uint8)
    wall[880:] = photo(1, 1024, 144)
    wall[180:720, 300:724] = (40, 30, 25)  # the frame
    wall[200:700, 320:704] = photo(0, 384, 500)
    return wall


def sign_with_white_border() -> np.ndarray:
    image = Image.fromarray(photo(2, 1024, 1024))
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 300, 824, 700), fill=(255, 255, 255))
    draw.rectangle((216, 316, 808, 684), fill=(20, 90, 40))
    draw.text((512, 500), "PARK", fill=(255, 255, 255), anchor="mm", font_size=160)
    return np.asarray(image)


def comic_panel() -> np.ndarray:
    """One comic panel: a thick black border drawn around the picture inside the frame."""
    image = photo(8, 1024, 1024)
    image[40:56, 40:-40] = image[-56:-40, 40:-40] = 0
    image[40:-40, 40:56] = image[40:-40, -56:-40] = 0
    return image


def window_view() -> np.ndarray:
    """The view through a painted window: a frame and a cross of mullions, lit from the upper left (the paint is
    brighter there, as on any photographed frame)."""
    view = photo(6, 1024, 1024).astype(np.float32)
    light = 254 - np.add.outer(np.arange(1024), np.arange(1024)) / 2047 * 26
    paint = np.broadcast_to(light[:, :, None], (1024, 1024, 3))
    mask = np.zeros((1024, 1024), bool)
    mask[:40] = mask[-40:] = True
    mask[:, :40] = mask[:, -40:] = True
    mask[500:524] = True
    mask[:, 500:524] = True
    view[mask] = paint[mask]
    return _grain(view.astype(np.uint8))


def shaded_pillar() -> np.ndarray:
    """A white pillar between two scenes (a wall corner between windows), shaded along its height."""
    image = photo(7, 1024, 1024)
    image[:, 480:540] = np.linspace(255, 232, 1024)[:, None, None].astype(np.uint8)
    return _grain(image)


def flag_with_white_stripes() -> np.ndarray:
    """A design of flat bands with thin white stripes: flat, not pictures."""
    image = np.zeros((768, 1024, 3), np.uint8)
    image[:] = (0, 56, 168)
    image[:, 340:680] = (206, 17, 38)
    image[:, 330:340] = image[:, 680:690] = 255
    return image


SCENES = {
    "product-pair-on-white": product_pair,
    "horizon": horizon,
    "poster-on-white-wall": poster_on_white_wall,
    "sign-with-white-border": sign_with_white_border,
    "comic-panel": comic_panel,
    "window-frame": window_view,
    "shaded-pillar": shaded_pillar,
    "flag-with-white-stripes": flag_with_white_stripes,
    "one-photo": lambda: photo(0, 1024, 1024),
}


@pytest.mark.parametrize("scene", SCENES.values(), ids=SCENES.keys())
@pytest.mark.parametrize("quality", [None, 90, 60], ids=["png", "jpeg-90", "jpeg-60"])
def test_straight_lines_inside_one_scene_are_no_grid(scene, quality: int | None) -> None:
    picture = scene()
    passed, _, detail = tiling(picture if quality is None else jpeg(picture, quality))
    assert passed, detail


def test_a_blurred_photo_of_a_grid_edge_is_not_a_seam_grid() -> None:
    """A photo whose straight edges cross at the halves but are soft (a real horizon and a building's corner): the
    jumps spread over neighbouring lines, so no seam, let alone a grid of them."""
    picture = sheet(2, 2, gutter=0)
    soft = np.asarray(Image.fromarray(picture).filter(ImageFilter.GaussianBlur(1.5)))
    passed, _, detail = tiling(soft)
    assert passed, detail


# ---------------------------------------------------------------------------------------------------------------
# a layout the prompt asks for
# ---------------------------------------------------------------------------------------------------------------

ASKED_LAYOUTS = [
    ("two panels side by side: a cat on the left, a rocket on the right", 2, 1, 8),
    ("a diptych of a coffee cup and a cat", 2, 1, 0),
    ("Before and after: the kitchen renovation", 2, 1, 16),
    ("a before-and-after photo of a garden", 1, 2, 8),
    ("a 2x2 grid of four different portraits", 2, 2, 8),
    ("a 2×2 grid of pictures of the sea", 2, 2, 0),
    ("a contact sheet of nine film frames", 3, 3, 12),
    ("a three-panel comic strip about a cat and a rocket", 3, 1, 12),
    ("a triptych, three views of a lighthouse", 3, 1, 0),
    ("a collage of holiday photos", 2, 2, 8),
]


@pytest.mark.parametrize(("prompt", "across", "down", "gutter"), ASKED_LAYOUTS, ids=[p for p, *_ in ASKED_LAYOUTS])
def test_a_layout_the_prompt_asks_for_passes(prompt: str, across: int, down: int, gutter: int) -> None:
    passed, _, detail = tiling(jpeg(sheet(across, down, gutter=gutter), 90), prompt)
    assert passed, detail
    assert "as the prompt asks" in detail


def test_the_asked_layout_is_named_in_the_reasoning() -> None:
    passed, _, detail = tiling(sheet(2, 2), "a 2x2 grid of four different portraits")
    assert passed, detail
    assert "2×2 grid of separate pictures" in detail and "2x2 grid" in detail


UNASKED_PROMPTS = [
    "a cat sitting on a rocket",
    "a single photo of a cat, not a collage",
    "one picture, no grid of variations",
    "a photo of a solar panel on a roof",
    "a grid of streets seen from above",
    'a shop sign that says "BEFORE AND AFTER"',
]


@pytest.mark.parametrize("prompt", UNASKED_PROMPTS)
def test_a_layout_nobody_asked_for_still_fails(prompt: str) -> None:
    passed, severity, detail = tiling(sheet(2, 2), prompt)
    assert not passed and severity == "severe", detail
    assert "contact sheet" in detail


def test_copies_of_one_picture_fail_even_when_a_grid_is_asked() -> None:
    """Four copies of one photo are not the grid of four pictures the prompt asks for."""
    one = photo(0, 512, 512)
    copies = np.concatenate([np.concatenate([one, one], axis=1)] * 2, axis=0)
    passed, _, detail = tiling(copies, "a 2x2 grid of four different portraits")
    assert not passed, detail
    assert "copies" in detail


def test_an_asked_layout_is_green_for_text_to_image() -> None:
    """What the caller sees: the whole pixels judge passes a diptych the prompt asked for."""
    panel = Panel.from_dir(DATA_ROOT / "judges")
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("text-to-image")
    [pixels_judge] = [j for j in panel.judges if j.name == "pixels"]
    prompt = "two panels side by side: a cat on the left, a rocket on the right"
    vote = run_judge(pixels_judge, rubric, context(jpeg(sheet(2, 1), 90), prompt=prompt, width=1024, height=1024))
    failed = [c for c in vote.criteria if c["passed"] is False]
    assert vote.passed is True, failed
