"""A sign drawn at full resolution is not a small picture blown up into square pixels.

A correct DejaVu Serif Italic 'FOOD' on a plain board was amber: ``not-pixelated`` read it as 'a picture of about
258×293 px blown up into square blocks 4 px wide'. Its text was read right; the few lines along which such a flat
picture changes (the board's antialiased rounded corners step every 3-4 px, a short word's letter edges) happened to
sit near a grid. A blown-up picture changes at a good share of its grid's lines; such a sign at under an eighth. 76
of 325 drawn signs (5 faces, 13 sizes, 5 words) read as pixelated before, none after. A sign that really is a small
picture blown up still fails, and a misspelt sign is still red.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.judges.test_text_reading import DEJAVU, SANS, criterion, png, sign, verdict

SERIF_ITALIC = DEJAVU / "DejaVuSerif-Italic.ttf"
SERIF_BOLD = DEJAVU / "DejaVuSerif-Bold.ttf"
SERIF_BOLD_ITALIC = DEJAVU / "DejaVuSerif-BoldItalic.ttf"


@pytest.mark.parametrize(
    ("face", "size", "words"),
    [
        pytest.param(SERIF_ITALIC, 70, "FOOD", id="FOOD-serif-italic-70"),
        pytest.param(SERIF_BOLD, 90, "ZOO", id="ZOO-serif-bold-90"),
        pytest.param(SANS, 120, "GOD", id="GOD-sans-120"),
        pytest.param(SERIF_BOLD_ITALIC, 120, "DOG", id="DOG-serif-bold-italic-120"),
    ],
)
def test_a_correct_drawn_sign_is_green(face: Path, size: int, words: str) -> None:
    document = verdict(png(sign(words, face, size=size)), text=words)
    assert document["verdict"] == "green", document["summary"]
    assert criterion(document, "not-pixelated")["passed"]


@pytest.mark.parametrize("drawn", ["FOOO", "FO0D", "F00D"])
def test_a_misspelt_sign_in_the_same_face_is_still_red(drawn: str) -> None:
    document = verdict(png(sign(drawn, SERIF_ITALIC, size=70)), text="FOOD")
    assert document["verdict"] == "red", document["summary"]
    assert not criterion(document, "expected-text")["passed"]


@pytest.mark.parametrize("size", [20, 30, 40])
def test_a_small_sign_blown_up_into_square_pixels_still_fails(size: int) -> None:
    small = sign("FOOD", SERIF_ITALIC, size=size, side=256)
    document = verdict(png(small.resize((1024, 1024), Image.NEAREST)), text="FOOD")
    result = criterion(document, "not-pixelated")
    assert not result["passed"] and "256×256 px" in result["detail"], result["detail"]
