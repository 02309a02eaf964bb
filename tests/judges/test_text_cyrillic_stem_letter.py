"""'Ы', the one Cyrillic letter drawn as two Latin look-alikes ('b' and 'I'), is often read by its stem alone
('ОТКРЫТО' as 'OTKPITO'). README's own example of a Cyrillic word checked like Latin is green then; a wrong word,
or a letter read as another letter where 'Ы' stands, is not."""

from __future__ import annotations

import pytest

from tests.judges.test_text_held_out_signs import board
from tests.judges.test_text_reading import SANS_BOLD, criterion, png, verdict

BEIGE, BLACK = (236, 226, 200), (20, 20, 20)


def test_the_readme_cyrillic_example_read_by_the_stem_of_its_y_is_green() -> None:
    # Black DejaVu Sans Bold on beige at this size is read 'OTKPITO': the bowl of 'Ы' is read as nothing.
    document = verdict(png(board("ОТКРЫТО", SANS_BOLD, 130, BLACK, BEIGE)), text="ОТКРЫТО")
    assert document["verdict"] == "green", document["summary"]


@pytest.mark.parametrize("drawn", ["ЗАКРЫТО", "ОТКРОТО", "ОТКРЬТО"])
def test_another_word_on_the_same_board_is_not_green(drawn: str) -> None:
    document = verdict(png(board(drawn, SANS_BOLD, 130, BLACK, BEIGE)), text="ОТКРЫТО")
    assert document["verdict"] != "green", document["summary"]
    assert not criterion(document, "expected-text")["passed"]
