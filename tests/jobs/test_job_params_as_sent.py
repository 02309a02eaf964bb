"""A JSON job's params are read as JSON and its errors name them as the caller sent them (outside probe minor
notes): `"width": "1024"` is refused as a string where a number belongs, as `"n": "2"` is, and a size the model does
not offer is named `params.width` (a job body has no `size`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("params", [{"width": "1024", "height": 1024}, {"width": 1024, "height": "1024"}])
def test_a_number_sent_as_a_string_is_refused_naming_the_param(client, params) -> None:
    body = {"task": "text-to-image", "prompt": "a lighthouse at dusk", "params": params}
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    name = next(key for key, value in params.items() if isinstance(value, str))
    assert error["param"] == f"params.{name}"
    assert "not a string" in error["message"]


def test_a_size_the_model_does_not_offer_names_the_params(client) -> None:
    body = {"task": "text-to-image", "prompt": "a lighthouse at dusk", "params": {"width": 333, "height": 333}}
    answer = client.post("/v1/jobs", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "params.width", error
    assert "params.width" in error["message"] and "333x333" in error["message"], error
