"""The JSON bodies of evaluations and jobs follow one rule, in their own words (outside probe H8 F5): a number sent
as a string was a 400 for a job and coerced for an evaluation; a JSON evaluation without its source named the
multipart field `source`, not `source_url`; a wrong value was shown as Python writes it (`True`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/v1/evaluations", "/v1/jobs"])
def test_a_number_sent_as_a_string_is_refused_in_either_json_body(client, path: str) -> None:
    body = {"task": "text-to-image", "params": {"width": "1024", "height": 1024}}
    body |= {"image_url": "https://example.com/a.png"} if path == "/v1/evaluations" else {"prompt": "a red ball"}
    answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "params.width" and 'send "1024" unquoted' in error["message"], error


def test_a_json_edit_without_its_source_names_source_url(client) -> None:
    answer = client.post("/v1/evaluations", json={"task": "object-removal", "image_url": "https://example.com/a.png"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] in ("source_url", "mask_url") and f"'{error['param']}' image" in error["message"], error


def test_a_wrong_value_is_shown_as_json_writes_it(client) -> None:
    body = {"task": "text-to-image", "image_url": "https://example.com/a.png", "params": {"width": True}}
    error = client.post("/v1/evaluations", json=body).json()["error"]
    assert error["param"] == "params.width" and "got true" in error["message"] and "True" not in error["message"]
