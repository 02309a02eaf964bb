"""Param values as well-meant clients send them, and values that must not pass: a size computed as 1024.0 is the
whole number 1024; a non-finite number is named as such; a control character (an escape sequence in a shared
manifest would reach every terminal and log that prints the param) is refused naming the param and the character."""

from __future__ import annotations

import pytest

from sentinel.errors import InvalidInput
from sentinel.evaluation.rubric import ParamSpec, params_for

SPECS = {
    "text": ParamSpec(type="string", required=True),
    "width": ParamSpec(type="integer", min=16, max=4096),
    "strength": ParamSpec(type="number", min=0, max=1),
}


def test_a_whole_number_sent_with_a_decimal_point_is_that_number() -> None:
    assert params_for("t", SPECS, {"text": "OPEN", "width": 1024.0}) == {"text": "OPEN", "width": 1024}
    with pytest.raises(InvalidInput, match=r"must be a whole number, got 1024\.5"):
        params_for("t", SPECS, {"text": "OPEN", "width": 1024.5})


@pytest.mark.parametrize("value", ["nan", float("nan"), "inf", float("-inf")])
def test_a_number_that_is_not_finite_is_named_so(value: object) -> None:
    with pytest.raises(InvalidInput, match="'strength' must be a finite number") as raised:
        params_for("t", SPECS, {"text": "OPEN", "strength": value})
    assert raised.value.field == "params.strength"


@pytest.mark.parametrize(("text", "code"), [("OPEN \x1b]0;pwn\x07", "001B"), ("R&D\x00", "0000"), ("a\x9bb", "009B")])
def test_a_control_character_is_refused_naming_it(text: str, code: str) -> None:
    with pytest.raises(InvalidInput, match=f"control character U\\+{code}") as raised:
        params_for("t", SPECS, {"text": text})
    assert raised.value.field == "params.text"


def test_tabs_and_line_breaks_stay() -> None:
    assert params_for("t", SPECS, {"text": "OPEN\nLATE\tDAILY\r\n"})["text"] == "OPEN\nLATE\tDAILY\r\n"


def test_the_api_answers_a_control_character_with_a_400_naming_the_param(client) -> None:
    from tests.conftest import png_bytes

    answer = client.post(
        "/v1/evaluations",
        data={"task": "text-render", "params": '{"text": "OPEN \\u001b[31m"}'},
        files={"image": ("sign.png", png_bytes(), "image/png")},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "params.text"
