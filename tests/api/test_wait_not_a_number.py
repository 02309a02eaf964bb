"""``?wait=nan`` is refused as not a finite number, naming ``wait``: it was refused with "Input should be less than or
equal to 60", a bound NaN does not break, which sends the caller looking for a number that is too big."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_wait_nan_is_a_400_saying_finite_number(client, value: str) -> None:
    answer = client.get(f"/v1/evaluations/ev_unknown?wait={value}")
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "wait"
    assert "finite number" in error["message"], error
