"""Expected text with numbers, symbols and letters the offline recogniser cannot read.

A decimal point or colon between two digits is part of the number: '$450' for '$4.50' is a price 100 times too
high and '15 mg' for '1.5 mg' a tenfold dose, so they are misspellings (red), as '$4.05' is, never "only
punctuation"; sentence punctuation ('Open' for 'Open?') and a decimal comma read for a point stay mild.

A symbol the recogniser does not read on a sign ('♥', '✓', an emoji) and letters it cannot output at all
(Cyrillic 'к', Hebrew) are not held against the sign: what it can read is checked, and the rest leaves the text
for a person (amber). 'HOTEL Москва' on a sign that reads 'PIZZA' is red: 'HOTEL' is plainly not there.

An image too thin to hold a line of text (a 1-px strip) is not read at all: RapidOCR grew such a strip to
30000×7500 pixels (~650 MB) to look at it.
"""

from __future__ import annotations

import pytest
from PIL import Image

from sentinel.evaluation.judges import text
from tests.judges.test_text_reading import SANS_BOLD, criterion, page_of, png, sign, verdict

EXACT = text.ExpectedTextSettings()


def read_as(expected: str, reading: str) -> text.Match:
    return text.best_match(expected, page_of((reading, (100, 400, 900, 560))), 30)


# --- Numbers (no OCR needed) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "reading"),
    [("$4.50", "$450"), ("$4.50", "$45.0"), ("1.5 mg", "15 mg"), ("10:30", "1030"), ("v1.2", "v12")],
)
def test_a_separator_lost_or_moved_between_digits_is_not_a_minor_difference(expected: str, reading: str) -> None:
    match = read_as(expected, reading)
    assert not match.passes(EXACT) and not match.minor_differences, (match.read, match.minor_differences)


@pytest.mark.parametrize(
    ("expected", "reading", "difference"),
    [("Open?", "Open", "'?' missing"), ("€19.99", "€19,99", "',' for '.'"), ("Ends 5.", "Ends 5", "'.' missing")],
)
def test_sentence_punctuation_and_a_decimal_comma_stay_minor(expected: str, reading: str, difference: str) -> None:
    assert read_as(expected, reading).minor_differences == (difference,)


# --- Numbers on drawn signs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawn", "expected"), [("$450", "$4.50"), ("$45.0", "$4.50"), ("15 mg", "1.5 mg"), ("1030", "10:30")]
)
def test_a_sign_whose_number_lost_or_moved_its_separator_is_red(drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=150)), text=expected)
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert result["severity"] == "severe" and "punctuation" not in result["detail"], result["detail"]


def test_a_sign_missing_only_its_question_mark_stays_amber() -> None:
    document = verdict(png(sign("Open", SANS_BOLD, size=150)), text="Open?")
    assert document["verdict"] == "amber", document["summary"]
    assert criterion(document, "expected-text")["severity"] == "mild"


# --- Symbols ----------------------------------------------------------------------------------------------------


def test_an_emoji_left_unread_is_not_a_misspelling_but_is_not_confirmed() -> None:
    match = read_as("OPEN 🍕", "OPEN")
    assert match.passes(EXACT) and match.unread_symbols == ("🍕",)
    assert read_as("OPEN ★", "OPEN ★").unread_symbols == ()  # a symbol read as itself is confirmed
    assert not read_as("OPEN 🍕", "CLOSED").passes(EXACT)


# A symbol at the start or end with a mark drawn there passes (tests/judges/test_text_symbol_marks.py); one between
# words is not looked for.
@pytest.mark.parametrize(("drawn", "symbol"), [("WE ♥ PIZZA", "♥")])
def test_a_correct_sign_with_a_symbol_the_recogniser_does_not_read_is_amber_not_red(drawn: str, symbol: str) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=130)), text=drawn)
    result = criterion(document, "expected-text")
    assert document["verdict"] == "amber", document["summary"]
    assert result["severity"] == "mild" and symbol in result["detail"], result["detail"]


def test_the_words_beside_an_unread_symbol_are_still_checked() -> None:
    document = verdict(png(sign("WE ♥ PASTA", SANS_BOLD, size=130)), text="WE ♥ PIZZA")
    assert document["verdict"] == "red", document["summary"]


# --- Letters the recogniser cannot output -----------------------------------------------------------------------


def test_the_readable_words_of_a_text_in_an_unreadable_script_are_checked() -> None:
    document = verdict(png(sign("PIZZA", SANS_BOLD, size=180)), text="HOTEL Москва")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert result["severity"] == "severe" and "'HOTEL'" in result["detail"], result["detail"]


@pytest.mark.parametrize("drawn", ["HOTEL Москва", "Москва", "PIZZA Москва"])
def test_a_correct_sign_in_a_script_the_recogniser_cannot_read_stays_amber(drawn: str) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=110)), text=drawn)
    assert document["verdict"] == "amber", document["summary"]
    assert criterion(document, "expected-text")["severity"] == "mild"


def test_a_sign_that_says_only_the_readable_words_is_not_called_absent() -> None:
    # The Cyrillic word may be there and unread: a person checks it.
    document = verdict(png(sign("PIZZA", SANS_BOLD, size=180)), text="PIZZA Москва")
    assert document["verdict"] == "amber", document["summary"]


# --- Images too thin to hold text -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1000, 1), (4000, 2), (1, 1000)])
def test_a_strip_too_thin_for_text_is_not_read_and_its_text_is_absent(size: tuple[int, int]) -> None:
    detections = text.model_calls["detect"]
    document = verdict(png(Image.new("RGB", size, (10, 20, 30))), text="SALE")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert "too thin to hold a line of text" in result["detail"], result["detail"]
    assert text.model_calls["detect"] == detections  # the OCR never blew the strip up to look at it
