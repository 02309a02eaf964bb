"""POST /v1/jobs reads JSON whatever the content type says (`curl -d '{...}'` sends JSON labelled as a form), and
multipart for an edit job's files; a body that is neither, such as an HTML form's fields, is a 415 naming the types
it takes (as POST /v1/evaluations answers), not a 400 about JSON the caller never meant to send."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"task=text-to-image&prompt=a+red+mug"),
        ("text/plain", b"task: text-to-image"),
        ("application/xml", b"<job><task>text-to-image</task></job>"),
    ],
)
def test_a_body_in_a_type_jobs_do_not_take_is_a_415_naming_the_types(
    client: TestClient, content_type: str, content: bytes
) -> None:
    answer = client.post("/v1/jobs", content=content, headers={"Content-Type": content_type})
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert error["type"] == "unsupported_media_type"
    assert content_type in error["message"]
    assert "application/json" in error["message"] and "multipart/form-data" in error["message"]


def test_json_labelled_as_a_form_is_still_read_as_json(client: TestClient) -> None:
    body = b'{"task": "text-to-image", "prompt": "a red mug", "max_attempts": 1}'
    answer = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("content_type", ["application/json", ""])
def test_broken_json_sent_as_json_is_still_a_400_about_the_json(client: TestClient, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/v1/jobs", content=b'{"task": ', headers=headers)
    assert answer.status_code == 400, answer.text
    assert "JSON" in answer.json()["error"]["message"]
