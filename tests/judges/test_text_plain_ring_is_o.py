"""A plain ring read as a zero where the expected text has an O is the letter O, in any font.

The recogniser reads the O of a monospaced font as a zero, even surely and with no digit near: a correct DejaVu Sans
Mono Bold 'ZOO' was read 'Z00' and judged red, so the customer paid to regenerate a right sign. Only a zero drawn
with a dot or a slash in it (as DejaVu Sans Mono draws its digit) is told apart from an O; such a zero where an O is
expected stays a misspelling. Images are drawn in code with the DejaVu fonts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.test_text_reading import DEJAVU, criterion, png, sign, verdict

MONO = DEJAVU / "DejaVuSansMono.ttf"
MONO_BOLD = DEJAVU / "DejaVuSansMono-Bold.ttf"
MONO_OBLIQUE = DEJAVU / "DejaVuSansMono-Oblique.ttf"
MONO_BOLD_OBLIQUE = DEJAVU / "DejaVuSansMono-BoldOblique.ttf"


# Renders the recogniser read with zeros ('Z00') before the fix (the same words white on a blue board were read
# right already).
CORRECT_SIGNS = [
    pytest.param(png(sign("ZOO", MONO_BOLD, size=120)), "ZOO", id="ZOO-mono-bold-120"),
    pytest.param(png(sign("ZOO", MONO_OBLIQUE, size=70)), "ZOO", id="ZOO-mono-oblique-70"),
    pytest.param(png(sign("ZOO", MONO_BOLD_OBLIQUE, size=70)), "ZOO", id="ZOO-mono-bold-oblique-70"),
]


@pytest.mark.parametrize(("image", "words"), CORRECT_SIGNS)
def test_a_correct_sign_whose_o_is_read_as_a_zero_is_green(image: bytes, words: str) -> None:
    document = verdict(image, text=words)
    assert document["verdict"] == "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    assert "misspel" not in detail, detail


@pytest.mark.parametrize("face", [MONO, MONO_BOLD, MONO_OBLIQUE, MONO_BOLD_OBLIQUE], ids=lambda f: f.stem)
@pytest.mark.parametrize(("drawn", "expected"), [("Z00", "ZOO"), ("M00N", "MOON")])
def test_a_dotted_zero_drawn_for_an_o_is_still_not_as_expected(face: Path, drawn: str, expected: str) -> None:
    # DejaVu Sans Mono's zero has a dot in it: the letter O never has one, so the sign says another word.
    document = verdict(png(sign(drawn, face, size=120)), text=expected)
    assert document["verdict"] != "green", document["summary"]
    detail = criterion(document, "expected-text")["detail"]
    assert "as expected" not in detail and "look-alike" not in detail, detail
