"""The expected text is read in whole words, and saying it twice is not saying it once.

A sign that says 'SALES' does not say 'SALE', 'CATALOG' does not say 'CAT', and '€19.999' is not '€19.99': letters
or digits written onto an expected word make another word, which is a misspelling (red), as 'Cofffee' for 'Coffee'
is. A word or line the sign repeats ('OPEN OPEN', 'Open late late', 'SALE' on two lines) is other text besides the
expected text (amber), as a doubled word is a classic image-model failure no customer publishes. Punctuation next
to a word ('SALE!'), other words spaced apart from the text, and the text split over lines are read as before.
"""

from __future__ import annotations

import pytest

from sentinel.evaluation.judges import text
from tests.judges.test_text_reading import SANS, SANS_BOLD, criterion, page_of, png, sign, verdict

LINE = (100, 400, 900, 560)
EXACT = text.ExpectedTextSettings()


def read_as(expected: str, *lines: str) -> text.Match:
    """The match for ``expected`` on a page that reads ``lines``, one under the other."""
    boxes = [(100, 200 + 180 * row, 900, 360 + 180 * row) for row in range(len(lines))]
    return text.best_match(expected, page_of(*zip(lines, boxes, strict=True)), 30)


# --- Reading in whole words (no OCR needed) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "reading"),
    [
        ("SALE", "SALES"),
        ("Bread", "Breadd"),
        ("CAT", "CATALOG"),
        ("OPEN", "REOPEN"),
        ("€19.99", "€19.999"),
        ("24/7", "24/77"),
        ("Joe", "Joe's"),
        ("Fresh Bread", "Fresh Breads daily"),
    ],
)
def test_letters_or_digits_written_onto_an_expected_word_make_another_word(expected: str, reading: str) -> None:
    match = read_as(expected, reading)
    assert not match.passes(EXACT), (match.read, match.score)


def test_the_longer_word_holding_the_expected_text_is_named() -> None:
    assert read_as("CAT", "CATALOG").inside == "CATALOG"
    assert read_as("SALE", "BIG SALES TODAY").inside == "SALES"
    assert read_as("Open late", "REOpen lately").inside == "REOpen lately"
    assert read_as("SALE", "SALE!").inside == ""


@pytest.mark.parametrize(
    ("expected", "reading", "read"),
    [
        ("SALE", "SALE!", "SALE"),  # punctuation next to a word is not a letter of it
        ("SALE", "SALES SALE", "SALE"),  # the word itself, further on, is found
        ("OPEN 24/7", "OPEN 24/7 EVERY DAY", "OPEN 24/7"),  # other words spaced apart are other text
        ("FRESH BREAD", "FRESH.BREAD", "FRESH.BREAD"),  # a speck between two words
        ("BUY 2 GET 1", "BUY2GET1", "BUY2GET1"),  # spacing the OCR dropped inside the text
        ("50%", "50%OFF", "50%"),
        ("Joe's Diner", "Joe's Diner", "Joe's Diner"),
    ],
)
def test_the_expected_text_standing_as_its_own_words_still_passes(expected: str, reading: str, read: str) -> None:
    match = read_as(expected, reading)
    assert match.passes(EXACT) and match.read == read, (match.read, match.score)


def test_a_word_split_over_two_lines_is_still_read_as_one() -> None:
    match = read_as("FRESH BREAD BAKED DAILY", "FRESH BREAD", "BAKED DAILY")
    assert match.passes(EXACT) and match.read == "FRESH BREAD BAKED DAILY"


# --- Signs read from pictures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawn", "expected"),
    [("SALES", "SALE"), ("Breadd", "Bread"), ("CATALOG", "CAT"), ("€19.999", "€19.99")],
)
def test_a_sign_whose_word_is_longer_than_the_expected_one_is_red(drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=150)), text=expected)
    result = criterion(document, "expected-text")
    assert document["verdict"] == "red", document["summary"]
    assert not result["passed"] and drawn in result["detail"], result["detail"]


@pytest.mark.parametrize(
    ("drawn", "expected", "repeated", "size"),
    [
        ("OPEN OPEN", "OPEN", "OPEN", 110),
        ("SALE\nSALE", "SALE", "SALE", 110),
        ("€19.99 €19.99", "€19.99", "€19.99", 110),
        ("Open late late", "Open late", "late", 110),
        ("Fresh Fresh Bread", "Fresh Bread", "Fresh", 90),
    ],
)
def test_a_sign_that_repeats_the_expected_text_or_a_word_of_it_is_amber(
    drawn: str, expected: str, repeated: str, size: int
) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=size)), text=expected)
    assert document["verdict"] == "amber", document["summary"]
    assert criterion(document, "expected-text")["passed"]
    other = criterion(document, "no-other-text")
    assert not other["passed"] and f"'{repeated}'" in other["detail"] and "repeat" in other["detail"], other["detail"]


@pytest.mark.parametrize(
    ("drawn", "expected"),
    [("SALE!", "SALE"), ("Open late", "Open late"), ("OPEN\nLATE", "OPEN LATE"), ("€19.99", "€19.99")],
)
def test_a_sign_that_says_the_text_once_stays_green(drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, SANS_BOLD, size=110)), text=expected)
    assert document["verdict"] == "green", document["summary"]


def test_an_expected_word_missing_from_its_place_is_not_called_other_text_where_it_stands() -> None:
    # 'LATE OPEN' for 'OPEN LATE': the order is wrong (the expected text says so); 'LATE' is no extra text.
    document = verdict(png(sign("LATE\nOPEN", SANS, size=150)), text="OPEN LATE")
    assert not criterion(document, "expected-text")["passed"]
    assert criterion(document, "no-other-text")["passed"], criterion(document, "no-other-text")["detail"]
