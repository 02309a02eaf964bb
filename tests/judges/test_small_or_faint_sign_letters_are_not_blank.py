"""A sign of small letters (Pillow's default font at 10-16 px) or of letters a few levels off a clean board is a sign
with text, not a blank picture: a person reads it. When the OCR finds nothing in letters that small, the sign cannot
be confirmed ('could not be read', amber), but its text is not absent (red). A board with no marks at all, or only
grain, or letters too faint to see (4 levels on a clean board) is still blank.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.judges.test_pixel_held_out_verdicts import encode, judge
from tests.judges.test_text_held_out_signs import board
from tests.judges.test_text_reading import SANS_BOLD, SERIF, criterion, png, verdict

DARK_ON_LIGHT = ((20, 20, 20), (245, 240, 228))
LIGHT_ON_DARK = ((250, 250, 250), (30, 60, 120))


def small_sign(
    side: int, size: int | None, colours: tuple[tuple[int, int, int], tuple[int, int, int]], words: str, board: float
) -> Image.Image:
    """``words`` in Pillow's default font (``size`` px, its own default when None) on a board ``board`` of the
    picture's side across (1.0: the whole picture), on a wall 3 levels off the board, barely told from it."""
    ink, paper = colours
    wall = tuple(max(0, c - 3) for c in paper)
    picture = Image.new("RGB", (side, side), wall if board < 1 else paper)
    draw = ImageDraw.Draw(picture)
    if board < 1:
        half_w, half_h = round(board * side / 2), round(board * side / 6)
        draw.rectangle((side // 2 - half_w, side // 2 - half_h, side // 2 + half_w, side // 2 + half_h), fill=paper)
    letters = ImageFont.load_default() if size is None else ImageFont.load_default(size=size)
    draw.text((side // 2, side // 2), words, font=letters, fill=ink, anchor="mm")
    return picture


@pytest.mark.parametrize("side", [1024, 512])
@pytest.mark.parametrize("board_share", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("colours", [DARK_ON_LIGHT, LIGHT_ON_DARK], ids=["dark-on-light", "light-on-dark"])
@pytest.mark.parametrize("words", ["OPEN", "EXIT"])
def test_a_short_word_in_the_default_font_is_not_blank(
    side: int, board_share: float, colours: tuple[tuple[int, int, int], tuple[int, int, int]], words: str
) -> None:
    for size in (None, 10, 11, 12, 13, 14, 15, 16):
        outcome, _ = judge("not_blank", encode(small_sign(side, size, colours, words, board_share)))
        assert outcome.passed, (size, outcome.detail)


@pytest.mark.parametrize(
    ("size", "colours"),
    [(None, DARK_ON_LIGHT), (11, DARK_ON_LIGHT), (11, LIGHT_ON_DARK), (13, LIGHT_ON_DARK)],
)
def test_a_sign_in_the_default_font_is_amber_not_red(
    size: int | None, colours: tuple[tuple[int, int, int], tuple[int, int, int]]
) -> None:
    document = verdict(png(small_sign(1024, size, colours, "BAKERY", 1.0)), text="BAKERY")
    assert document["verdict"] == "amber", document["summary"]
    assert criterion(document, "not-blank")["passed"], criterion(document, "not-blank")["detail"]


@pytest.mark.parametrize("size", [10, 11])
def test_small_light_letters_the_ocr_finds_nothing_in_could_not_be_read(size: int) -> None:
    document = verdict(png(small_sign(1024, size, LIGHT_ON_DARK, "OPEN", 1.0)), text="OPEN")
    result = criterion(document, "expected-text")
    assert not result["passed"] and result["severity"] != "severe", result["detail"]
    assert "could not be read" in str(result["detail"]), result["detail"]


@pytest.mark.parametrize("size", [None, 12, 16])
def test_the_default_font_in_a_512_picture_is_green(size: int | None) -> None:
    for colours in (DARK_ON_LIGHT, LIGHT_ON_DARK):
        document = verdict(png(small_sign(512, size, colours, "OPEN", 1.0)), text="OPEN")
        assert document["verdict"] == "green", document["summary"]


@pytest.mark.parametrize("levels", [6, 7])
@pytest.mark.parametrize(("face", "size"), [(SANS_BOLD, 130), (SERIF, 100)])
def test_letters_six_or_seven_levels_off_a_clean_board_are_not_blank(levels: int, face, size: int) -> None:
    for paper in ((200, 200, 200), (40, 40, 40)):
        for step in (levels, -levels):
            ink = tuple(c + step for c in paper)
            outcome, _ = judge("not_blank", encode(board("BAKERY", face, size, ink=ink, paper=paper, height=1024)))
            assert outcome.passed, (paper, step, outcome.detail)


def test_a_blank_board_grain_or_letters_four_levels_off_stay_blank() -> None:
    paper = (200, 200, 200)
    faint = board("BAKERY", SANS_BOLD, 130, ink=(196, 196, 196), paper=paper, height=1024)
    rng = np.random.default_rng(7)
    grain = np.clip(200 + rng.normal(0, 2, (1024, 1024, 1)).repeat(3, axis=2), 0, 255).astype(np.uint8)
    for picture in (Image.new("RGB", (1024, 1024), paper), faint, Image.fromarray(grain)):
        outcome, severity = judge("not_blank", encode(picture))
        assert not outcome.passed and severity == "severe", outcome.detail
    document = verdict(png(Image.new("RGB", (1024, 1024), paper)), text="BAKERY")
    assert document["verdict"] == "red"
    assert "absent" in str(criterion(document, "expected-text")["detail"])
