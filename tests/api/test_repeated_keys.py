"""A value given twice is refused naming it, wherever it is given: a query parameter (``?window=24h&window=1h``),
a key of a JSON body (``{"prompt": "x", "prompt": "y"}``) or of a form's JSON ``params``, as a repeated form field
already was. Each used to take the last value without a word (the dashboard answered the 1h window, a job was made
for prompt "y")."""

from __future__ import annotations

import json

import pytest

from tests.conftest import png_bytes


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/dashboard?window=24h&window=1h", "window"),
        ("/v1/evaluations?limit=5&limit=7", "limit"),
        ("/v1/jobs?verdict=red&limit=2&verdict=green", "verdict"),
    ],
)
def test_a_repeated_query_parameter_is_a_400_naming_it(client, path: str, name: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == name
    assert f"'{name}' was sent 2 times" in error["message"]


def test_parameters_each_given_once_are_answered(client) -> None:
    assert client.get("/v1/evaluations?limit=5&verdict=red").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/jobs", '{"task": "text-to-image", "prompt": "x", "prompt": "y"}', "prompt"),
        ("/v1/jobs", '{"task": "text-render", "prompt": "sign", "params": {"text": "A", "text": "B"}}', "params.text"),
        ("/v1/images/generations", '{"prompt": "x", "model": "sentinel-local", "prompt": "y"}', "prompt"),
        ("/v1/evaluations", '{"task": "text-to-image", "task": "text-render", "image_url": "http://x/a.png"}', "task"),
    ],
)
def test_a_key_repeated_in_a_json_body_is_a_400_naming_it(client, path: str, body: str, name: str) -> None:
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == name
    assert "sent twice" in error["message"]


def test_a_key_repeated_in_a_forms_params_is_a_400_naming_it(client) -> None:
    answer = client.post(
        "/v1/evaluations",
        data={"task": "text-render", "params": '{"text": "OPEN", "text": "SHUT"}'},
        files={"image": ("a.png", png_bytes(), "image/png")},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "params.text"


def test_the_same_key_in_two_objects_is_not_a_repetition(client) -> None:
    body = {"task": "text-render", "prompt": "a sign", "params": {"text": "OPEN"}, "model": "sentinel-local"}
    answer = client.post("/v1/jobs", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
