"""Held-out signs a customer judges otherwise than the text judge did (probe findings F8, F9, F10, F19, F21/F27).

A sign whose letters are only a little darker or lighter than its board is a sign with text, not a blank picture,
and not a blurred one; a sign whose text is so small it is barely legible where the picture is seen is not passed
as it is; a sign in another script than the text asked for says other words, whatever the recogniser cannot read;
a letter of another script read in place of the expected one ('BΛKERY') is a misspelling, not the OCR's noise; and
a shop sign or label standing in a photograph's scene is part of the picture, not stray text laid over it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from sentinel.evaluation.judges import text
from tests.judges.test_text_held_out_signs import board
from tests.judges.test_text_reading import MONO, SANS, SANS_BOLD, SERIF, criterion, font, page_of, png, verdict

BOLD = str(SANS_BOLD)


def failed(document: dict[str, object]) -> dict[str, dict[str, object]]:
    return {
        c["id"]: c
        for judge in document["judges"]  # type: ignore[attr-defined]
        for c in judge.get("criteria", [])
        if not c["passed"]
    }


# --- F8: a faint sign is a sign with text, not a blank (or blurred) picture -------------------------------------


@pytest.mark.parametrize(
    ("paper", "ink", "face", "size"),
    [
        ((200, 200, 200), (180, 180, 180), SANS_BOLD, 130),  # grey, darker letters
        ((200, 200, 200), (222, 222, 222), SERIF, 100),  # grey, lighter letters
        ((30, 60, 120), (45, 75, 135), SANS_BOLD, 130),  # navy, a little lighter
        ((245, 240, 228), (225, 220, 208), SANS, 60),  # cream, smaller letters
        ((40, 40, 40), (56, 56, 56), SERIF, 100),  # dark grey
    ],
)
def test_a_low_contrast_sign_that_a_person_reads_is_not_blank(
    paper: tuple[int, int, int], ink: tuple[int, int, int], face: Path, size: int
) -> None:
    document = verdict(png(board("BAKERY", face, size, ink=ink, paper=paper, height=1024)), text="BAKERY")
    problems = failed(document)
    assert "not-blank" not in problems, problems["not-blank"]["detail"]
    assert "sharp" not in problems, problems["sharp"]["detail"]
    assert criterion(document, "expected-text")["passed"], document["summary"]
    assert document["verdict"] == "green", document["summary"]


def test_a_blurred_faint_sign_is_still_blurred_and_a_flat_frame_still_blank() -> None:
    from PIL import ImageFilter

    for face, size in ((SANS_BOLD, 130), (SANS, 60)):
        faint = board("BAKERY", face, size, ink=(170, 170, 170), paper=(200, 200, 200), height=1024)
        for radius in (2, 4):
            blurred = verdict(png(faint.filter(ImageFilter.GaussianBlur(radius))), text="BAKERY")
            assert "sharp" in failed(blurred), (radius, blurred["summary"])
    flat = verdict(png(Image.new("RGB", (1024, 1024), (200, 200, 200))), text="BAKERY")
    assert "not-blank" in failed(flat) and flat["verdict"] == "red"
    # Grain alone on flat grey (σ 3) is no subject either.
    rng = np.random.default_rng(5)
    grain = np.clip(200 + rng.normal(0, 3, (1024, 1024, 1)).repeat(3, axis=2), 0, 255).astype(np.uint8)
    noisy = verdict(png(Image.fromarray(grain)), text="BAKERY")
    assert "not-blank" in failed(noisy), noisy["summary"]


# --- F9: text too small to read where the picture is seen -------------------------------------------------------


def tiny_sign(face: Path | None, size: int | None, words: str = "OPEN 24/7") -> Image.Image:
    picture = Image.new("RGB", (1024, 1024), (240, 230, 210))
    shape = ImageFont.load_default() if size is None else font(face, size)
    ImageDraw.Draw(picture).text((512, 512), words, font=shape, fill=(180, 20, 20), anchor="mm")
    return picture


@pytest.mark.parametrize(("face", "size"), [(None, 14), (SANS_BOLD, 12), (SERIF, 13)])
def test_sign_text_too_small_to_read_comfortably_is_not_green(face: Path | None, size: int) -> None:
    document = verdict(png(tiny_sign(face, size)), text="OPEN 24/7")
    result = criterion(document, "expected-text")
    assert not result["passed"] and result["severity"] == "mild", result["detail"]
    assert "too small" in str(result["detail"])
    assert document["verdict"] == "amber", document["summary"]


@pytest.mark.parametrize(("face", "size"), [(SANS_BOLD, 16), (None, 20), (SERIF, 18), (SANS_BOLD, 60)])
def test_small_but_legible_sign_text_stays_green(face: Path | None, size: int) -> None:
    # 16-px DejaVu Sans Bold capitals on a plain 1024² sign are the accuracy set's minimalist sign, judged green.
    document = verdict(png(tiny_sign(face, size)), text="OPEN 24/7")
    assert document["verdict"] == "green", document["summary"]


# --- F10: a sign in another script than the text asked for -------------------------------------------------------


@pytest.mark.parametrize(
    ("drawn", "asked"),
    [("OPEN", "مفتوح"), ("OPEN", "פתוח"), ("BAKERY", "ПЕКАРНЯ"), ("WELCOME", "שלום"), ("CLOSED", "ЗАКРЫТО")],
)
def test_a_sign_in_another_script_is_red_even_when_the_text_asked_for_cannot_be_read(drawn: str, asked: str) -> None:
    document = verdict(png(board(drawn, SANS_BOLD, 130, height=1024)), text=asked)
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert result["severity"] == "severe" and "absent" in str(result["detail"]), result["detail"]


@pytest.mark.parametrize(("drawn", "asked"), [("OPEN", "ОТКРЫТО"), ("OPEN", "ΑΝΟΙΧΤΟ"), ("ΑΝΟΙΧΤΟ", "OPEN")])
def test_other_script_signs_the_recogniser_reads_stay_red(drawn: str, asked: str) -> None:
    document = verdict(png(board(drawn, SERIF, 120, height=1024)), text=asked)
    assert document["verdict"] == "red", document["summary"]


def test_a_reading_that_could_be_the_unreadable_text_is_not_foreign() -> None:
    # 'ΠEKAPHA' is how the recogniser reads 'ПЕКАРНЯ' in DejaVu Serif; 'MoKBa' how it reads 'Москва'.
    assert not text._foreign_lines("ПЕКАРНЯ", text.OcrPage([text.Word("ΠEKAPHA", 99.0, (1, 1, 9, 9))], 99, 99))
    assert not text._foreign_lines("Москва", text.OcrPage([text.Word("MoKBa", 99.0, (1, 1, 9, 9))], 99, 99))
    assert text._foreign_lines("ПЕКАРНЯ", text.OcrPage([text.Word("BAKERY", 99.0, (1, 1, 9, 9))], 99, 99))
    # A line read unsurely is what the recogniser makes of a script it cannot output ('פתוח' read 'NIND' at 81).
    assert not text._foreign_lines("פתוח", text.OcrPage([text.Word("NIND", 81.0, (1, 1, 9, 9))], 99, 99))


# --- F19: a letter of another script in place of the expected letter ---------------------------------------------


@pytest.mark.parametrize(
    ("drawn", "face", "size"),
    [("BΛKERY", SERIF, 120), ("BΛKERY", SANS, 110), ("BΛKERY", MONO, 110), ("BAKΣRY", SANS_BOLD, 120)],
)
def test_a_letter_of_another_script_in_place_of_the_expected_one_is_a_misspelling(
    drawn: str, face: Path, size: int
) -> None:
    document = verdict(png(board(drawn, face, size, height=1024)), text="BAKERY")
    result = criterion(document, "expected-text")
    assert not result["passed"], result["detail"]
    assert "letter" in str(result["detail"]), result["detail"]


@pytest.mark.parametrize("drawn", ["BAKЕRY", "ΒΑΚΕRΥ", "BAKERY"])  # Cyrillic Е, Greek capitals: the same glyphs
def test_letters_drawn_the_same_in_another_script_still_pass(drawn: str) -> None:
    document = verdict(png(board(drawn, SANS_BOLD, 120, height=1024)), text="BAKERY")
    assert document["verdict"] == "green", document["summary"]


def test_a_foreign_letter_is_told_from_the_ocrs_look_alike_confusions() -> None:
    def foreign(expected: str, reading: str) -> tuple[tuple[str, str], ...]:
        return text.best_match(expected, page_of((reading, (100, 400, 900, 560))), 30).foreign_letters

    assert foreign("BAKERY", "BΛKERY") == (("A", "Λ"),)
    assert foreign("NEWS", "ИEWS") == (("N", "И"),)
    assert foreign("SALE 50% OFF", "SALE 50% 0FF") == ()  # a digit for its look-alike letter
    assert foreign("BAKERY", "BAKЕRY") == ()  # Cyrillic Е is the Latin E's look-alike
    assert foreign("Café", "Cafe") == ()  # an accent is not another script


# --- F21/F27: a sign standing in a photograph's scene is part of it -----------------------------------------------


def street(name: str, box: tuple[int, int, int, int], words: str, size: int) -> bytes:
    picture = Image.fromarray(getattr(data, name)()).convert("RGB").resize((1024, 768))
    draw = ImageDraw.Draw(picture)
    draw.rectangle(box, fill=(240, 232, 205), outline=(60, 40, 20), width=4)
    centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    draw.text(centre, words, font=ImageFont.truetype(BOLD, size), fill=(120, 20, 20), anchor="mm")
    return png(picture)


def stray(image: bytes) -> dict[str, object]:
    document = verdict(image, task="text-to-image", prompt="a quiet street corner", width=1024, height=768)
    return criterion(document, "no-stray-text")


@pytest.mark.parametrize(
    ("name", "box", "words", "size"),
    [
        ("chelsea", (60, 40, 360, 120), "BAKERY", 50),  # a shop sign near the top edge
        ("coffee", (600, 500, 860, 580), "CAFE", 48),  # a tight board in the lower right
        ("chelsea", (400, 300, 640, 360), "BOOKS", 36),
        ("astronaut", (700, 120, 960, 200), "PHARMACY", 36),
    ],
)
def test_a_sign_standing_in_the_scene_is_not_stray_text(
    name: str, box: tuple[int, int, int, int], words: str, size: int
) -> None:
    result = stray(street(name, box, words, size))
    assert result["passed"], result["detail"]


def test_a_caption_band_or_a_mark_laid_over_the_scene_is_still_stray() -> None:
    picture = Image.fromarray(data.coffee()).convert("RGB").resize((1024, 768))
    draw = ImageDraw.Draw(picture)
    # A caption band across the bottom, edge to edge.
    draw.rectangle((0, 660, 1023, 767), fill=(20, 20, 20))
    draw.text((512, 714), "SUMMER SALE", font=ImageFont.truetype(BOLD, 60), fill=(255, 255, 255), anchor="mm")
    banded = stray(png(picture))
    assert not banded["passed"] and "SUMMER" in str(banded["detail"]), banded["detail"]
    # Opaque letters laid straight on the scene, no board behind them.
    bare = Image.fromarray(data.coffee()).convert("RGB").resize((1024, 768))
    ImageDraw.Draw(bare).text(
        (512, 300), "SAMPLE", font=ImageFont.truetype(BOLD, 90), fill=(255, 255, 255), anchor="mm"
    )
    laid = stray(png(bare))
    assert not laid["passed"] and "SAMPLE" in str(laid["detail"]), laid["detail"]
