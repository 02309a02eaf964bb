"""A judged SDK generation (`extra_body={"sentinel": {"task": ...}}`) runs as a job: the fields a caller sends
must reach that job as they would a plain generation, and a value the job cannot take is a 400 naming the field,
never a 500 and never silently dropped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import clean_env, start_server


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("judged-generation-fields")
    server, url = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp / "data")), tmp / "serve.log")
    try:
        yield url
    finally:
        server.stop()


def judged(base: str, **fields: Any) -> httpx.Response:
    body = {
        "prompt": "a red mug on a white background",
        # The task's min-size criterion wants 1000 px: a smaller size is refused before anything is generated.
        "size": "1024x1024",
        "response_format": "b64_json",
        "sentinel": {"task": "product-white-background", "max_attempts": 1},
        **fields,
    }
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=60)


def test_the_seed_of_a_judged_generation_is_the_jobs_first_seed(base: str) -> None:
    answer = judged(base, seed=4242)
    assert answer.status_code == 200, answer.text
    job = httpx.get(f"{base}/v1/jobs/{answer.headers['x-sentinel-job-id']}", timeout=10).json()
    assert job["seed"] == 4242


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"seed": 2**31}, "seed"),  # a plain generation takes 32-bit seeds; a job's are 31-bit
        ({"prompt": "a red mug " * 500}, "prompt"),  # 5000 characters: a plain generation takes 32000
    ],
)
def test_a_value_the_job_cannot_take_is_a_400_naming_it(base: str, fields: dict[str, Any], named: str) -> None:
    answer = judged(base, **fields)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == named, error
    assert named in error["message"]


def test_a_negative_prompt_is_refused_rather_than_dropped(base: str) -> None:
    # Jobs do not pass a negative prompt on: an image made without it would be judged as if it had been.
    answer = judged(base, negative_prompt="text, watermark")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "negative_prompt"


def test_the_requests_deadline_bounds_a_judged_generations_budget(base: str) -> None:
    answer = judged(base, sentinel={"task": "product-white-background", "max_attempts": 1, "deadline_seconds": 45})
    assert answer.status_code == 200, answer.text
    job = httpx.get(f"{base}/v1/jobs/{answer.headers['x-sentinel-job-id']}", timeout=10).json()
    assert job["budget_seconds"] == 45
