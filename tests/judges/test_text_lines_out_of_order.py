"""A sign whose lines stand in another order than asked ('DAILY' above 'FRESH BREAD' for "FRESH BREAD\\nDAILY") is
red, and its reason says the expected text is out of order: the line is said once, not doubled."""

from __future__ import annotations

from tests.judges.test_text_held_out_signs import board
from tests.judges.test_text_reading import SANS_BOLD, criterion, png, verdict


def test_swapped_lines_are_not_called_a_doubled_line() -> None:
    document = verdict(png(board("DAILY\nFRESH BREAD", SANS_BOLD, 110)), text="FRESH BREAD\nDAILY")
    assert document["verdict"] == "red", document["summary"]
    detail = str(criterion(document, "no-other-text")["detail"])
    assert "doubled" not in detail and "out of its order" in detail, detail


def test_a_line_said_twice_is_still_called_a_doubled_line() -> None:
    document = verdict(png(board("SALE\nSALE", SANS_BOLD, 110)), text="SALE")
    assert document["verdict"] != "green", document["summary"]
    assert "doubled" in str(criterion(document, "no-other-text")["detail"])
