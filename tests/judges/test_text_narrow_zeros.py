"""F2 (outside probe): a zero drawn among letter O's ('SCH0OL' for 'SCHOOL') is read 'SCHOOL' outright by the
recogniser, so the sign passed as expected. A proportional font's zero is about a fifth narrower than its O, so a
ring clearly narrower than another O, or than a D or G (bowls as wide as an O), of the same line is a zero; a line
of true O's stays green. A line whose only rings are zeros and that has no D or G ('SCH00L', 'H0TEL') has no
reference in it and is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.test_text_reading import SANS, SANS_BOLD, SERIF, criterion, png, sign, verdict

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FACES = [SANS, SANS_BOLD, SERIF, DEJAVU / "DejaVuSansCondensed.ttf", DEJAVU / "DejaVuSerif-BoldItalic.ttf"]


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.stem)
@pytest.mark.parametrize(
    ("drawn", "expected"),
    [("SCH0OL", "SCHOOL"), ("C0OL", "COOL"), ("B0OK", "BOOK"), ("CL0SED", "CLOSED"), ("G0LD", "GOLD")],
)
def test_a_plain_zero_beside_a_letter_o_is_not_as_expected(face: Path, drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, face, size=120)), text=expected)
    assert document["verdict"] != "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    assert f"'{drawn}'" in detail and "as expected" not in detail, detail


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.stem)
@pytest.mark.parametrize("words", ["SCHOOL", "BOOK", "GOOD FOOD", "OPEN 2000", "CLOSED", "GOLD"])
def test_the_same_words_with_letter_os_stay_green(face: Path, words: str) -> None:
    document = verdict(png(sign(words, face, size=120)), text=words)
    assert document["verdict"] == "green", document["summary"]
