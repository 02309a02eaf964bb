"""A form field the API reads as an object (the gateway's `sentinel` options on an edit or variation) may come as
bracketed fields, as the OpenAI SDK writes them (`sentinel[task]=…`), or as one text field holding JSON, as a curl
user writes it (`-F 'sentinel={"task": …}'`): both are read; anything else is a 400 naming the field and saying how
to send it, in the caller's terms rather than the name of an internal class."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import png_bytes

IMAGE = {"image": ("image.png", png_bytes(), "image/png")}


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/images/variations"])
@pytest.mark.parametrize("sent", ["not json", "[1, 2]", '"task"', "{broken"])
def test_an_object_field_sent_as_other_text_names_the_field_and_the_ways_to_send_it(
    client: Any, path: str, sent: str
) -> None:
    fields = {"sentinel": sent} | ({"prompt": "a red ball"} if path.endswith("edits") else {})
    answer = client.post(path, data=fields, files=IMAGE)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "sentinel"
    assert "SentinelOptions" not in error["message"]
    assert "JSON" in error["message"] and "sentinel[" in error["message"], error["message"]


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/images/variations"])
def test_an_object_field_sent_as_json_text_is_read(client: Any, path: str) -> None:
    fields = {"sentinel": '{"task": "no-such-task-anywhere"}'}
    fields |= {"prompt": "a red ball"} if path.endswith("edits") else {}
    answer = client.post(path, data=fields, files=IMAGE)
    # Read as the options it holds: the task it names is what is refused (an unknown task for an edit; any task for
    # a variation, which is not judged yet), not the field's type.
    assert "no-such-task-anywhere" in answer.text or answer.json()["error"]["param"] == "sentinel.task", answer.text
    assert "valid dictionary" not in answer.text
