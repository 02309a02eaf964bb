"""Text verdicts the outside probe P1 found wrong (F1, F2), each judged as a customer sees it.

F1: lettering sliced by an edge of the picture is not the sign asked for, even when OCR still reads every letter;
a line with a small margin, or a board running off the frame around whole letters, stays green. F2: a digit read
where a letter is expected ('C00L' for 'COOL') is never "as expected": the recogniser kept the letter among its
candidates, so a person checks it (amber). Images are drawn in code with the DejaVu fonts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel.evaluation.local import evaluate_files
from sentinel.wiring import get_services
from tests.judges.test_ocr_work import DEJAVU, SANS_BOLD, png

MONO_BOLD = DEJAVU / "DejaVuSansMono-Bold.ttf"


def verdict(image: Image.Image, task: str, **params: Any) -> dict[str, Any]:
    [(_, document)] = list(evaluate_files(get_services(), task, params, [(Path("image.png"), png(image))], {}))
    return document


def criterion(document: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for judge in document["judges"] for c in judge["criteria"] if c["id"] == name]
    return found


def sign(
    words: str,
    side: str = "",
    cut: float = 0.0,
    size: int = 200,
    colours: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 0, 0), (255, 255, 255)),
    margin: int | None = None,
) -> Image.Image:
    """``words`` centred on a 1024×768 board, or pushed against ``side`` so the frame slices ``cut`` of the letters'
    height (of the width of the first letter at the left, of the last one at the right), or kept ``margin`` px
    inside it."""
    ink, board = colours
    picture = Image.new("RGB", (1024, 768), board)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(SANS_BOLD), size)
    left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
    width, height = right - left, bottom - top
    x, y = (1024 - width) / 2 - left, (768 - height) / 2 - top
    letter = width / len(words)
    if side == "top":
        y = -top - (height * cut if margin is None else -margin)
    elif side == "bottom":
        y = 768 - bottom + (height * cut if margin is None else -margin)
    elif side == "left":
        x = -left - (letter * cut if margin is None else -margin)
    elif side == "right":
        x = 1024 - right + (letter * cut if margin is None else -margin)
    draw.text((x, y), words, font=font, fill=ink)
    return picture


# --- F1: text sliced by the frame -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "cut", "size", "colours"),
    [
        ("top", 0.2, 200, ((0, 0, 0), (255, 255, 255))),
        ("top", 0.35, 200, ((0, 0, 0), (255, 255, 255))),
        ("bottom", 0.2, 200, ((0, 0, 0), (255, 255, 255))),
        ("left", 0.3, 200, ((0, 0, 0), (255, 255, 255))),
        ("right", 0.3, 200, ((0, 0, 0), (255, 255, 255))),
        # Light letters on a coloured board, and smaller letters.
        ("top", 0.25, 200, ((255, 255, 255), (20, 60, 140))),
        ("bottom", 0.25, 120, ((255, 220, 0), (20, 20, 80))),
    ],
)
def test_text_sliced_by_an_edge_of_the_picture_is_red(
    side: str, cut: float, size: int, colours: tuple[tuple[int, int, int], tuple[int, int, int]]
) -> None:
    document = verdict(sign("HELLO", side, cut, size, colours), "text-render", text="HELLO")
    assert document["verdict"] == "red", document["summary"]
    framed = criterion(document, "text-in-frame")
    assert not framed["passed"]
    assert f"cut off by the {side} edge" in framed["detail"]


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
def test_a_whole_line_close_to_an_edge_stays_green(side: str) -> None:
    # A few pixels of margin: the letters are all there, however tight the layout.
    document = verdict(sign("HELLO", side, margin=4), "text-render", text="HELLO")
    assert criterion(document, "text-in-frame")["passed"], document["summary"]
    assert document["verdict"] == "green", document["summary"]


def test_a_board_running_off_the_frame_around_whole_letters_stays_green() -> None:
    # The blue board bleeds off the top edge (a banner cropped by the frame); its letters are whole, 20 px below it.
    picture = Image.new("RGB", (1024, 768))
    picture.putdata([(200 - y // 8, 190 - y // 10, 170) for y in range(768) for _ in range(1024)])
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 1023, 250), fill=(20, 60, 140))
    font = ImageFont.truetype(str(SANS_BOLD), 200)
    draw.text((512, 20), "HELLO", font=font, fill=(255, 255, 255), anchor="mt")
    document = verdict(picture, "text-render", text="HELLO")
    assert criterion(document, "text-in-frame")["passed"], document["summary"]
    assert document["verdict"] == "green", document["summary"]


def sky_poster(top: int) -> Image.Image:
    """White letters over a pale, grainy sky, their top ``top`` px from the top edge (negative: above it)."""
    rng = np.random.default_rng(7)
    rows = np.linspace(0, 1, 768)[:, None, None]
    sky = np.array([150, 185, 235]) + rows * np.array([60, 40, 0]) + rng.normal(0, 4, (768, 1024, 3))
    picture = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(SANS_BOLD), 200)
    draw.text((512, top), "HELLO", font=font, fill=(255, 255, 255), anchor="ms")
    return picture


def test_light_letters_sliced_over_a_pale_photo_are_red_and_whole_ones_are_not() -> None:
    # 'ms' anchors the baseline: capitals 145 px tall, so a baseline at 110 px cuts a quarter of them off.
    cut = verdict(sky_poster(110), "text-render", text="HELLO")
    assert not criterion(cut, "text-in-frame")["passed"], cut["summary"]
    assert cut["verdict"] == "red", cut["summary"]
    whole = verdict(sky_poster(160), "text-render", text="HELLO")
    assert criterion(whole, "text-in-frame")["passed"], whole["summary"]


# --- F2: a digit read where a letter is expected -------------------------------------------------------------------


def mono_board(words: str) -> Image.Image:
    picture = Image.new("RGB", (1024, 512), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    size = min(150, 1500 // len(words))
    draw.text((512, 256), words, font=ImageFont.truetype(str(MONO_BOLD), size), fill=(0, 0, 0), anchor="mm")
    return picture


@pytest.mark.parametrize(("drawn", "expected"), [("C00L", "COOL"), ("SCH00L", "SCHOOL")])
def test_zeros_read_where_letters_are_expected_are_never_as_expected(drawn: str, expected: str) -> None:
    # DejaVu Sans Mono draws its zero with a dot: the recogniser reads '0', with 'O' only as a second guess.
    document = verdict(mono_board(drawn), "text-render", text=expected)
    assert document["verdict"] != "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    assert "as expected" not in detail
    assert f"'{drawn}'" in detail


@pytest.mark.parametrize("words", ["COOL", "SCHOOL", "SCHOOL 2024", "50% OFF"])
def test_the_same_words_spelled_with_letters_stay_green(words: str) -> None:
    # Beside digits the recogniser reads this font's O as a zero, even surely ('SCH00L 2024', '50% 0FF'): the
    # zeros of the line carry a dot, its O's do not, so they are letters; and the reading is not called exact.
    document = verdict(mono_board(words), "text-render", text=words)
    assert document["verdict"] == "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    read = detail.split("'")[1]
    assert ("as expected" in detail) == (read.replace(" ", "") == words.replace(" ", "")), detail
