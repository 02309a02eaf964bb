"""A multipart field the API refuses is named in the error's `param`, as the same field of a JSON body is: a text
part past the size a text field may hold, and a task name that cannot be one (a NUL, past 100 characters) is a
400 naming `task`, not a 404 for an unknown task."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import png_bytes

IMAGE = {"image": ("image.png", png_bytes(), "image/png")}
SOURCE = {"source": ("source.png", png_bytes(), "image/png"), "mask": ("mask.png", png_bytes(), "image/png")}

CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    # (what, path, form fields, files, field the error names)
    (
        "evaluation params past 64 KiB",
        "/v1/evaluations",
        {"task": "text-to-image", "params": "x" * 70_000},
        IMAGE,
        "params",
    ),
    (
        "evaluation callback_url past 64 KiB",
        "/v1/evaluations",
        {"task": "text-to-image", "callback_url": "https://example.com/" + "x" * 70_000},
        IMAGE,
        "callback_url",
    ),
    ("evaluation task with a NUL", "/v1/evaluations", {"task": "text\0"}, IMAGE, "task"),
    ("evaluation task past 100 characters", "/v1/evaluations", {"task": "t" * 101}, IMAGE, "task"),
    ("evaluation task past 64 KiB", "/v1/evaluations", {"task": "t" * 70_000}, IMAGE, "task"),
    (
        "evaluation callback_url with a NUL",
        "/v1/evaluations",
        {"task": "text-to-image", "callback_url": "https://example.com/\0"},
        IMAGE,
        "callback_url",
    ),
    ("job prompt past 128 KiB", "/v1/jobs", {"task": "object-removal", "prompt": "x" * 140_000}, SOURCE, "prompt"),
    ("edit prompt past 128 KiB", "/v1/images/edits", {"prompt": "x" * 140_000}, IMAGE, "prompt"),
]


@pytest.mark.parametrize(("path", "fields", "files", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_refused_form_field_is_a_400_naming_it(
    client: Any, path: str, fields: dict[str, Any], files: dict[str, Any], named: str
) -> None:
    answer = client.post(path, data=fields, files=files)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == named, error
    assert error["type"] == "invalid_request_error", error


@pytest.mark.parametrize("task", ["text\0", "t" * 101])
def test_the_json_body_refuses_the_same_task_names(client: Any, task: str) -> None:
    answer = client.post("/v1/evaluations", json={"task": task, "image_url": "https://example.com/a.png"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "task"
