"""The text judge reads signs as a person does, and grades what it finds as a person would.

Spacing is ignored the same way everywhere; lines are read top to bottom, words left to right; an upright
reading beats a sideways one; letter case and accents count (mildly); a doubtful reading gets a closer look
before the text is called absent; stray text is graded by how much of the picture it covers, and a faint
stock watermark across the middle of a photo is caught. Test images are drawn with DejaVu fonts or Pillow's
built-in font, the only fonts every CI machine has.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from sentinel.bench.signs import run as bench_signs
from sentinel.evaluation.judges import text
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.local import evaluate_files
from sentinel.providers.local import render
from sentinel.wiring import get_services

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SANS = DEJAVU / "DejaVuSans.ttf"
SANS_BOLD = DEJAVU / "DejaVuSans-Bold.ttf"
SERIF = DEJAVU / "DejaVuSerif.ttf"
MONO = DEJAVU / "DejaVuSansMono.ttf"


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size) if path is None else ImageFont.truetype(str(path), size)


def sign(
    words: str,
    face: Path | None = SANS,
    size: int = 100,
    side: int = 1024,
    paper: tuple[int, int, int] = (245, 240, 228),
    ink: tuple[int, int, int] = (25, 25, 30),
) -> Image.Image:
    """A board with ``words`` centred on it, one line per line of ``words``."""
    picture = Image.new("RGB", (side, side), (120, 135, 150))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((side * 0.06, side * 0.25, side * 0.94, side * 0.75), radius=side // 30, fill=paper)
    draw.multiline_text(
        (side // 2, side // 2), words, font=font(face, size), fill=ink, anchor="mm", align="center", spacing=size // 4
    )
    return picture


def photo(name: str, side: int = 1024) -> Image.Image:
    picture = Image.fromarray(getattr(data, name)()).convert("RGB")
    width, height = picture.size
    crop = min(width, height)
    left, top = (width - crop) // 2, (height - crop) // 2
    return picture.crop((left, top, left + crop, top + crop)).resize((side, side), Image.Resampling.LANCZOS)


def verdict(image: bytes, task: str = "text-render", **params: Any) -> dict[str, Any]:
    [(_, document)] = list(evaluate_files(get_services(), task, params, [(Path("image.png"), image)], {}))
    return document


def criterion(document: dict[str, Any], criterion_id: str) -> dict[str, Any]:
    for judge in document["judges"]:
        for result in judge.get("criteria", []):
            if result["id"] == criterion_id:
                return result
    raise AssertionError(f"no criterion {criterion_id} in {document['summary']}")


def context(image: bytes, **params: Any) -> JudgeContext:
    key = f"test-{hash(image)}"
    return JudgeContext(image=ImageSource(key, "image/png", lambda: image, 10**8), params=params)


def page_of(*lines: tuple[str, tuple[int, int, int, int]]) -> text.OcrPage:
    """A page as the OCR might return it: (text, box) per line, in any order."""
    return text.OcrPage([text.Word(words, 99.0, box) for words, box in lines], 1024, 1024)


# --- Reading: spacing, reading order, look-alike glyphs (no OCR needed) -----------------------------------------


def test_spacing_is_ignored_whatever_the_ocr_made_of_it() -> None:
    for reading in ("BUY2GET1", "BUY 2GET 1", "B UY 2 GET1"):
        match = text.best_match("BUY 2 GET 1", page_of((reading, (100, 400, 900, 560))), 30)
        assert match.score == 1.0 and match.passes(text.ExpectedTextSettings()), reading


def test_lines_are_joined_top_to_bottom_and_left_to_right() -> None:
    # The OCR returns lines in no particular order; the second line is split in two words.
    page = page_of(
        ("SAT", (560, 560, 700, 640)),
        ("OPEN LATE", (300, 400, 720, 480)),
        ("FRI &", (300, 562, 520, 642)),
    )
    match = text.best_match("OPEN LATE\nFRI & SAT", page, 30)
    assert match.score == 1.0
    assert match.read == "OPEN LATE FRI & SAT"
    assert not text.best_match("FRI & SAT OPEN LATE", page, 30).passes(text.ExpectedTextSettings())


def test_glyphs_that_look_alike_in_many_fonts_are_not_a_misspelling() -> None:
    # A typewriter font's 'l' is read as '1', a monospaced 'O' as '0'.
    assert text.best_match("$4.99 / lb", page_of(("$4.99 / 1b", (100, 400, 900, 560))), 30).score == 1.0
    assert text.best_match("SALE 50% OFF", page_of(("SALE 50% 0FF", (100, 400, 900, 560))), 30).score == 1.0
    assert text.best_match("OPEN 24/7", page_of(("OPEN 24/1", (100, 400, 900, 560))), 30).score < 1.0


def test_a_missing_percent_sign_is_a_misspelling_but_a_missing_exclamation_mark_is_minor() -> None:
    percent = text.best_match("SALE 50% OFF", page_of(("SALE 50 OFF", (100, 400, 900, 560))), 30)
    assert percent.score < 1.0 and not percent.minor_differences
    exclamation = text.best_match("50% OFF!", page_of(("50% OFF", (100, 400, 900, 560))), 30)
    assert exclamation.minor_differences == ("'!' missing",)


def test_an_accent_the_recogniser_cannot_output_is_compared_without_it_and_left_unconfirmed() -> None:
    assert "é" in text.recogniser_alphabet()
    assert "ở" not in text.recogniser_alphabet()  # PP-OCR has no Vietnamese stacked accents
    match = text.best_match("Phở Bò", page_of(("Phơ Bò", (100, 400, 900, 560))), 30)
    assert match.score == 1.0 and match.unconfirmed == ("ở",)


# --- Signs read from pictures -----------------------------------------------------------------------------------


def test_the_local_renderers_buy_2_get_1_sign_is_green_not_absent_and_other_text() -> None:
    document = verdict(render('a shop sign that says "BUY 2 GET 1"', 1024, 1024, 1), text="BUY 2 GET 1")
    assert document["verdict"] == "green", document["summary"]


def test_an_upright_sale_sign_is_not_judged_on_a_sideways_reading() -> None:
    document = verdict(render('a shop sign that says "SALE 50% OFF"', 1024, 1024, 3), text="SALE 50% OFF")
    assert document["verdict"] == "green", document["summary"]
    misspelled = verdict(png(sign("SAIE 50% OFF", SANS_BOLD)), text="SALE 50% OFF")
    detail = criterion(misspelled, "expected-text")["detail"]
    assert "SAIE 50% OFF" in detail and "rotated" not in detail and "sideways" not in detail


@pytest.mark.parametrize(
    ("words", "face"),
    [
        ("FRESH BREAD\nBAKED DAILY", SERIF),
        ("eBike Rental", MONO),
        ("Café au lait", SANS),
        ("Crème brûlée", SERIF),
        ("Open\nMon-Fri 9-5", None),
    ],
)
def test_clean_multi_line_mixed_case_and_accented_signs_are_green(words: str, face: Path | None) -> None:
    document = verdict(png(sign(words, face, size=90)), text=words)
    assert document["verdict"] == "green", document["summary"]


def test_text_spread_over_two_lines_matches_the_expected_text_on_one() -> None:
    document = verdict(png(sign("FRESH BREAD\nBAKED DAILY", SANS_BOLD)), text="FRESH BREAD BAKED DAILY")
    assert document["verdict"] == "green", document["summary"]


def test_a_sign_turned_on_its_side_is_read_and_is_red_for_being_sideways() -> None:
    # Read, so the verdict names the fault a viewer sees (the text is on its side), not a misspelling.
    turned = sign("OPEN 24/7", SANS_BOLD, size=120).rotate(90, expand=True)
    document = verdict(png(turned), text="OPEN 24/7")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert "'OPEN 24/7'" in result["detail"] and "sideways" in result["detail"], result["detail"]


def test_small_text_in_a_large_picture_gets_a_closer_look_before_it_is_called_misspelled() -> None:
    # 16 px letters in a 2048² picture are 8 px on the page the OCR reads first, and misread there.
    picture = Image.new("RGB", (2048, 2048), (235, 230, 220))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((614, 922, 1434, 1126), fill=(250, 250, 245), outline=(60, 60, 60), width=3)
    draw.text((1024, 1024), "Ticket Office 2nd Floor", font=font(SANS, 16), fill=(20, 20, 20), anchor="mm")
    outcome = text.expected_text(context(png(picture), text="Ticket Office 2nd Floor"), text.ExpectedTextSettings())
    # Read right, not misspelled; letters 0.6% of the picture's side are too small to read comfortably (mild).
    assert "'Ticket Office 2nd Floor' as expected" in outcome.detail, outcome.detail
    assert outcome.passed or (outcome.severity == "mild" and outcome.facts.get("small")), outcome.detail


# --- Case, accents and severity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("expected", "drawn"), [("OPEN 24/7", "open 24/7"), ("eBike Rental", "Ebike Rental")])
def test_a_sign_in_the_wrong_letter_case_is_amber(expected: str, drawn: str) -> None:
    image = png(sign(drawn, SANS))
    document = verdict(image, text=expected)
    result = criterion(document, "expected-text")
    assert document["verdict"] == "amber", document["summary"]
    assert result["severity"] == "mild" and "letter case" in result["detail"]
    ignoring = text.expected_text(context(image, text=expected), text.ExpectedTextSettings(case="ignore"))
    assert ignoring.passed, ignoring.detail


def test_a_missing_accent_is_amber_and_says_what_differs() -> None:
    document = verdict(png(sign("Cafe au lait", SANS)), text="Café au lait")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "amber", document["summary"]
    assert result["severity"] == "mild" and "'e' for 'é'" in result["detail"]


def test_a_misspelled_sign_is_red() -> None:
    document = verdict(png(sign("OPNE 24/7", SERIF)), text="OPEN 24/7")
    assert document["verdict"] == "red", document["summary"]
    assert "OPNE 24/7" in criterion(document, "expected-text")["detail"]


def test_absent_text_is_severe_and_never_reported_as_other_text_too() -> None:
    document = verdict(png(sign("CLOSED", SANS_BOLD)), text="OPEN 24/7")
    expected, other = criterion(document, "expected-text"), criterion(document, "no-other-text")
    assert document["verdict"] == "red"
    assert expected["severity"] == "severe" and "absent" in expected["detail"]
    assert "CLOSED" in other["detail"] and "OPEN" not in other["detail"]


def test_a_sign_with_a_second_line_besides_the_expected_text_reports_only_that_line() -> None:
    document = verdict(png(sign("OPEN 24/7\nCLOSED MONDAYS", SANS_BOLD, size=90)), text="OPEN 24/7")
    assert criterion(document, "expected-text")["passed"]
    other = criterion(document, "no-other-text")
    assert not other["passed"] and "CLOSED MONDAYS" in other["detail"] and "OPEN" not in other["detail"]
    assert other["severity"] == "moderate"


# --- Stray text and watermarks on photographs -------------------------------------------------------------------


def stray(picture: Image.Image) -> text.Outcome:
    return text.no_stray_text(context(png(picture)), text.StrayTextSettings())


def severity(outcome: text.Outcome) -> str:
    """The severity a failed no_stray_text criterion gets (its own, else its area on the check's bands)."""
    return outcome.severity or text.STRAY_TEXT_BANDS.grade(outcome.graded_value())


def with_text(
    picture: Image.Image, words: str, size: int, centre: tuple[int, int], opacity: float = 1.0
) -> Image.Image:
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    fill = (255, 255, 255, round(255 * opacity))
    ImageDraw.Draw(layer).text(
        centre, words, font=font(SANS_BOLD, size), fill=fill, anchor="mm", stroke_width=1, stroke_fill=(0, 0, 0, 200)
    )
    marked = picture.convert("RGBA")
    marked.alpha_composite(layer)
    return marked.convert("RGB")


def test_a_small_credit_in_a_corner_is_mild_and_a_caption_across_the_picture_severe() -> None:
    credit = stray(with_text(photo("chelsea"), "© J. Smith 2024", 22, (900, 1000)))
    caption = stray(with_text(photo("chelsea"), "SALE 50% OFF", 110, (512, 800)))
    assert not credit.passed and not caption.passed
    assert severity(credit) == "mild"
    assert severity(caption) == "severe"


def test_small_text_inside_the_scene_is_not_stray() -> None:
    # A name tag on a chest, a logo on a tank: part of the picture, not laid over it.
    picture = photo("astronaut")
    ImageDraw.Draw(picture).rectangle((590, 700, 760, 735), fill=(235, 235, 240))
    ImageDraw.Draw(picture).text((675, 718), "COLLINS", font=font(SANS_BOLD, 24), fill=(20, 20, 90), anchor="mm")
    outcome = stray(picture)
    assert outcome.passed, outcome.detail


def framed_print(name: str) -> Image.Image:
    """A photograph in a dark frame on a white background, as a print is shot for a shop."""
    picture = Image.new("RGB", (1024, 1024), "white")
    ImageDraw.Draw(picture).rectangle((192, 192, 832, 832), fill=(40, 30, 20))
    picture.paste(photo(name, 600), (212, 212))
    return picture


def stock_mark(picture: Image.Image, words: str, colour: tuple[int, int, int], opacity: float) -> Image.Image:
    """``words`` across the middle, 70% of the picture wide, at ``opacity``: a stock agency's watermark."""
    size = 40
    while font(SANS_BOLD, size).getlength(words) < 0.7 * picture.width:
        size += 4
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    middle = (picture.width // 2, picture.height // 2)
    fill = (*colour, round(255 * opacity))
    ImageDraw.Draw(layer).text(middle, words, font=font(SANS_BOLD, size), fill=fill, anchor="mm")
    marked = picture.convert("RGBA")
    marked.alpha_composite(layer)
    return marked.convert("RGB")


@pytest.mark.parametrize(
    "marked",
    [
        # The plain read sees nothing here; the contrast-normalised read of the middle does.
        pytest.param(lambda: stock_mark(framed_print("rocket"), "© Shutterstock", (90, 90, 90), 0.3), id="grey-print"),
        pytest.param(lambda: stock_mark(photo("coffee"), "iStock", (255, 255, 255), 0.3), id="white-photo"),
    ],
)
def test_a_faint_stock_watermark_across_the_middle_is_severe(marked: Any) -> None:
    outcome = stray(marked())
    assert not outcome.passed and severity(outcome) == "severe", outcome.detail
    assert "watermark" in outcome.detail


@pytest.mark.parametrize("name", ["grass", "gravel", "brick", "hubble_deep_field", "night", "coins"])
def test_textured_and_night_photos_without_text_stay_clean(name: str) -> None:
    if name == "night":
        picture = Image.fromarray((np.asarray(photo("astronaut"), dtype=np.float32) * 0.15).astype(np.uint8))
    else:
        picture = photo(name)
    outcome = stray(picture)
    assert outcome.passed, outcome.detail


# --- The renderer benchmark -------------------------------------------------------------------------------------


def test_the_sign_benchmark_finds_our_renderers_legible_signs_green_without_contradictions() -> None:
    report = bench_signs(phrases=("BUY 2 GET 1", "Hot Coffee\n$2.50"), seeds=(1,))
    assert report["judged"] == 2, report["dropped"]
    assert report["green_share"] == 1.0, report["failures"]
    assert report["contradictions"] == 0
