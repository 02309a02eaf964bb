"""F18 (outside probe): a lone letter or digit drawn beside the expected text ('OPEN x') was green: other text counts
from three letters, so one stray character never did. A person sees it on the sign, so it is amber (mild: a person
decides); ornaments the recogniser reads as symbols ('SALE *') and signs with nothing beside their words stay
green."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.judges.test_text_reading import SANS_BOLD, SERIF, criterion, png, sign, verdict


@pytest.mark.parametrize(
    ("drawn", "expected", "face", "glyph"),
    [
        ("OPEN x", "OPEN", SANS_BOLD, "x"),
        ("OPEN x", "OPEN", SERIF, "x"),
        ("SALE 7", "SALE", SANS_BOLD, "7"),
        ("SALE 7", "SALE", SERIF, "7"),
        ("OPEN   Q", "OPEN", SANS_BOLD, "q"),
        ("k  HELLO", "HELLO", SERIF, "k"),
    ],
)
def test_a_stray_character_beside_the_expected_text_is_amber(drawn: str, expected: str, face: Path, glyph: str) -> None:
    document = verdict(png(sign(drawn, face, size=120)), text=expected)
    assert document["verdict"] == "amber", document["summary"]
    other = criterion(document, "no-other-text")
    assert not other["passed"] and "stray character" in other["detail"], other["detail"]
    assert f"'{glyph}'" in other["detail"].lower(), other["detail"]
    assert criterion(document, "expected-text")["passed"]


@pytest.mark.parametrize("face", [SANS_BOLD, SERIF], ids=lambda f: f.stem)
@pytest.mark.parametrize(
    ("drawn", "expected"), [("OPEN", "OPEN"), ("SALE *", "SALE"), ("OPEN 24/7", "OPEN 24/7"), ("PLAN B", "PLAN B")]
)
def test_signs_with_nothing_stray_beside_their_words_stay_green(face: Path, drawn: str, expected: str) -> None:
    document = verdict(png(sign(drawn, face, size=120)), text=expected)
    assert document["verdict"] == "green", document["summary"]
