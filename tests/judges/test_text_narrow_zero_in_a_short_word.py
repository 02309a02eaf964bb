"""A zero drawn among the letters of a short word ('D0G' for 'DOG') is told from an O by its width, as in a long one.

The text detector's box around a short word is much taller than its letters, and the glyphs were looked for as
outlines at least 0.4 of the box's height: none were found, the line was not measured, and a plain zero read as an O
(or as a look-alike zero) passed as expected. Glyphs are now measured against the tallest outline in the crop. The
same words with letter O's stay as expected. Images are drawn in code with the DejaVu fonts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.test_text_reading import DEJAVU, SANS, SERIF, criterion, png, sign, verdict

SERIF_BOLD = DEJAVU / "DejaVuSerif-Bold.ttf"
CONDENSED = DEJAVU / "DejaVuSansCondensed.ttf"

# Each was green before: no glyphs were found in the detector's tall box.
SHORT_WORDS = [
    pytest.param(SANS, 60, "D0G", "DOG", id="D0G-sans-60"),
    pytest.param(SERIF, 60, "G0D", "GOD", id="G0D-serif-60"),
    pytest.param(SANS, 120, "G0O", "GOO", id="G0O-sans-120"),
    pytest.param(SERIF, 120, "Z0O", "ZOO", id="Z0O-serif-120"),
    pytest.param(CONDENSED, 60, "B0OK", "BOOK", id="B0OK-condensed-60"),
    pytest.param(SERIF_BOLD, 60, "D0G", "DOG", id="D0G-serif-bold-60"),
]


@pytest.mark.parametrize(("face", "size", "drawn", "expected"), SHORT_WORDS)
def test_a_plain_zero_in_a_short_word_is_not_as_expected(face: Path, size: int, drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, face, size=size)), text=expected)
    assert document["verdict"] != "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    assert f"'{drawn}'" in detail and "as expected" not in detail and "look-alike" not in detail, detail


@pytest.mark.parametrize(("face", "size", "drawn", "expected"), SHORT_WORDS)
def test_the_same_short_word_with_letter_os_is_as_expected(face: Path, size: int, drawn: str, expected: str) -> None:
    result = criterion(verdict(png(sign(expected, face, size=size)), text=expected), "expected-text")
    assert result["passed"], result["detail"]
