"""A symbol the offline recogniser cannot read ('✓', an emoji) at the start or end of the expected text: when the
words are read letter for letter and something is drawn where the symbol stands, the sign passes; a sign whose
words differ, or with a bare board where the symbol should be, does not."""

from __future__ import annotations

from tests.judges.test_text_reading import SANS_BOLD, criterion, png, sign, verdict


def test_a_check_mark_sign_whose_words_match_is_green() -> None:
    document = verdict(png(sign("✓ DONE", SANS_BOLD, size=130)), text="✓ DONE")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "green", document["summary"]
    assert result["passed"] and "'✓'" in result["detail"], result["detail"]


def test_a_check_mark_after_the_words_is_green_too() -> None:
    document = verdict(png(sign("DONE ✓", SANS_BOLD, size=130)), text="DONE ✓")
    assert document["verdict"] == "green", document["summary"]


def test_a_check_mark_sign_with_other_words_is_not_passed() -> None:
    document = verdict(png(sign("✓ GONE", SANS_BOLD, size=130)), text="✓ DONE")
    assert document["verdict"] == "red", document["summary"]


def test_a_bare_board_where_the_check_mark_should_be_stays_amber() -> None:
    document = verdict(png(sign("DONE", SANS_BOLD, size=130)), text="✓ DONE")
    result = criterion(document, "expected-text")
    assert document["verdict"] == "amber", document["summary"]
    assert not result["passed"] and "'✓'" in result["detail"], result["detail"]
