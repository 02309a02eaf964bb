"""A job whose every attempt would be generated at a size the task's minimum refuses is refused at once: no prompt
can mend a size, so each regeneration would be one more paid call to the same red verdict."""

from __future__ import annotations

from typing import Any


def test_job_below_the_tasks_minimum_size_is_refused_naming_the_size_and_minimum(
    client: Any,
) -> None:
    refused = client.post(
        "/v1/jobs",
        json={
            "task": "product-white-background",
            "prompt": "a green bottle on a white background",
            "params": {"width": 256, "height": 256},
        },
    )
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "params.width"
    assert "256x256" in error["message"] and "1000 px" in error["message"] and "min-size" in error["message"]


def test_judged_request_below_the_tasks_minimum_size_is_refused(client: Any) -> None:
    refused = client.post(
        "/v1/images/generations",
        json={
            "prompt": "a green bottle",
            "size": "512x512",
            "sentinel": {"task": "product-white-background"},
        },
    )
    assert refused.status_code == 400, refused.text
    assert "512x512" in refused.json()["error"]["message"]


def test_sizes_the_task_can_pass_are_still_taken(client: Any) -> None:
    for task, size in (
        ("product-white-background", (1024, 1024)),
        ("text-to-image", (256, 256)),
    ):
        created = client.post(
            "/v1/jobs",
            json={
                "task": task,
                "prompt": "a green bottle",
                "params": {"width": size[0], "height": size[1]},
            },
        )
        assert created.status_code == 202, created.text
