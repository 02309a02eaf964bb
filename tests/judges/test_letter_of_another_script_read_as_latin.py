"""A letter of another script drawn in a Latin word ('BAKΞRY', Greek Xi for E) is a misspelling a reader sees, even
where the recogniser reads it as the Latin letter surely enough for the line ('BAKERY' at 97-99.9). Its doubt at that
letter, from the same run, says where to look closer; a clean sign's letters carry no doubt, and cost nothing more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sentinel.evaluation.judges import text
from tests.judges.test_text_held_out_signs import board
from tests.judges.test_text_reading import MONO, SANS, SANS_BOLD, SERIF, context, criterion, png, verdict


@pytest.mark.parametrize(
    ("asked", "drawn", "face"),
    [
        ("BAKERY", "BAKΞRY", SANS_BOLD),
        ("BAKERY", "BAKΞRY", SERIF),
        ("OPEN", "OPΞN", SANS_BOLD),
        ("OPEN", "OPΞN", SERIF),
        ("OPEN", "OPΞN", SANS),
        ("BAKERY", "BΛKERY", SANS_BOLD),
        ("BAKERY", "BAKERΨ", SANS_BOLD),
        ("WEST", "ШEST", SANS_BOLD),
    ],
)
def test_a_letter_of_another_script_read_as_the_latin_one_is_not_green(asked: str, drawn: str, face: Path) -> None:
    document = verdict(png(board(drawn, face, 120, height=1024)), text=asked)
    result = criterion(document, "expected-text")
    assert not result["passed"], result["detail"]
    assert document["verdict"] == "red", document["summary"]


@pytest.mark.parametrize("words", ["BAKERY", "OPEN", "WEST", "NEWS", "PARK", "ANYWHERE"])
@pytest.mark.parametrize("face", [SANS_BOLD, SERIF, SANS, MONO])
def test_the_latin_words_stay_green(words: str, face: Path) -> None:
    document = verdict(png(board(words, face, 110, height=1024)), text=words)
    assert document["verdict"] == "green", document["summary"]


def test_a_clean_signs_letters_are_read_once_with_no_doubt() -> None:
    image = png(board("BAKERY", SANS_BOLD, 120, height=1024))
    page = text._page(context(image, text="BAKERY"), sample=True)
    assert [w.text for w in page.words] == ["BAKERY"] and not page.words[0].doubted
    before = text.model_calls["recognise"]
    outcome = text.expected_text(context(image, text="BAKERY"), text.ExpectedTextSettings())
    assert outcome.passed and text.model_calls["recognise"] == before, outcome.detail


def test_the_doubted_letters_come_from_the_same_run_of_the_recogniser() -> None:
    class Decoder:
        character = ["blank", "B", "E", "Ξ", "三", " "]

        def decode(self, best, chance, *_args, **_kwargs):
            lines = []
            for row in best:
                kept = [k for i, k in enumerate(row) if k and (i == 0 or k != row[i - 1])]
                lines.append(("".join(self.character[k] for k in kept), 1.0))
            return lines, []

    preds = np.zeros((2, 8, 6), np.float32)
    for row, doubt in enumerate((0.0, 0.13)):
        for step, k in enumerate([1, 1, 0, 2, 0, 0, 0, 0]):
            preds[row, step, k] = 1.0
        preds[row, 3, 2], preds[row, 3, 4] = 1.0 - doubt, doubt
    lines, _ = text._DoubtedLetters(Decoder())(preds, wh_ratio_list=[8.0, 4.0], max_wh_ratio=8.0)
    assert [line for line, _ in lines] == ["BE", "BE"]
    assert getattr(lines[0][0], "doubted", ()) == ()
    # The second line is half the batch's width: its fourth step of eight lies at 7/8 of it.
    assert lines[1][0].doubted == ((1, 0.875),)


def test_doubt_shared_with_the_same_letters_accented_or_digit_forms_is_no_doubt() -> None:
    class Decoder:
        character = ["blank", "Y", "Ý", "Ψ", "O", "0"]

        def decode(self, best, chance, *_args, **_kwargs):
            return [("".join(self.character[k] for k in row if k), 1.0) for row in best], []

    preds = np.zeros((3, 2, 6), np.float32)
    preds[0, 0, 1], preds[0, 0, 2] = 0.52, 0.48  # 'Y' beside 'Ý': a clean 'Y'
    preds[1, 0, 4], preds[1, 0, 5] = 0.9, 0.1  # 'O' beside '0': a clean 'O'
    preds[2, 0, 1], preds[2, 0, 3] = 0.9, 0.1  # 'Y' beside 'Ψ': another script's letter may stand there
    preds[:, 1, 0] = 1.0
    lines, _ = text._DoubtedLetters(Decoder())(preds)
    assert [getattr(line, "doubted", ()) for line, _ in lines] == [(), (), ((0, 0.25),)]


@pytest.mark.parametrize("phrase", ["SALE 50% OFF", "OPEN 24/7"])
def test_a_rendered_sign_whose_letters_only_waver_between_their_own_forms_is_read_once(phrase: str) -> None:
    from sentinel.providers.local import render

    image = render(f'a shop sign that says "{phrase}"', 1024, 1024, 1)
    text._page(context(image, text=phrase), sample=True)
    before = text.model_calls["recognise"]
    outcome = text.expected_text(context(image, text=phrase), text.ExpectedTextSettings())
    assert outcome.passed and text.model_calls["recognise"] == before, outcome.detail
