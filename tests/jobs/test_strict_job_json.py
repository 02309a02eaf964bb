"""A job's JSON body takes JSON's own types, as the gateway's does: a boolean is not a seed and text is not a
number (each a 400 naming the field); null for an optional field is that field left out, for every one alike."""

from __future__ import annotations

from typing import Any

import pytest

BASE = {"task": "text-to-image", "prompt": "a red lighthouse"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", True),
        ("n", "2"),
        ("max_attempts", "2"),
        ("budget_seconds", "10"),
        ("seed", "7"),
        ("n", 1.5),
    ],
)
def test_wrong_json_type_is_refused_naming_the_field(client: Any, field: str, value: object) -> None:
    answer = client.post("/v1/jobs", json=BASE | {field: value})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == field


def test_null_optional_fields_are_left_out_alike(client: Any) -> None:
    nulls = dict.fromkeys(
        (
            "params",
            "model",
            "n",
            "max_attempts",
            "budget_seconds",
            "seed",
            "callback_url",
        )
    )
    answer = client.post("/v1/jobs", json=BASE | nulls | {"max_attempts": 1})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["n"], job["budget_seconds"], job["seed"], job["params"]) == (
        1,
        300,
        None,
        {},
    )


def test_null_required_field_is_refused_naming_it(client: Any) -> None:
    answer = client.post("/v1/jobs", json=BASE | {"task": None})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "task"


def test_json_integer_still_passes_for_a_number_field(client: Any) -> None:
    answer = client.post("/v1/jobs", json=BASE | {"budget_seconds": 30, "max_attempts": 1})
    assert answer.status_code == 202, answer.text
