"""A judged generation (`sentinel.task`) made through the OpenAI SDK as users run it, interrupted while it waits for
its job, and the checks on the answer such a request gets: 503, not retried by the SDK, naming its job."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import yaml

from tests.conftest import REPO


def slow_local_routes(folder: Path, seconds: float) -> Path:
    """A routes file with the built-in routes and `slow-local`: the `local` provider taking ``seconds`` an image."""
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": seconds}}],
    }
    path = folder / "routes.yaml"
    path.write_text(yaml.safe_dump(routes))
    return path


def interrupted_judged_request(base: str, interrupt: Callable[[], None], timeout: float) -> BaseException | None:
    """What a judged `slow-local` generation raised when ``interrupt`` ran once its job existed. The SDK retries a
    503 unless told not to (``max_retries=2``, its default)."""
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=2)

    def generate() -> object:
        return client.images.generate(
            prompt="a red ball", model="slow-local", extra_body={"sentinel": {"task": "text-to-image"}}
        )

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(generate)
        # The job exists once the request is being served: then the interruption finds the request waiting for it.
        while not httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]:
            assert not pending.done(), pending.result()
        interrupt()
        return pending.exception(timeout=timeout)


def job_named_by_unretried_answer(error: BaseException | None, code: str) -> str:
    """The job id a 503 answer of ``code`` names in its header and its body, checking the SDK did not retry it."""
    assert isinstance(error, openai.APIStatusError), error
    answer = error.response
    assert answer.status_code == 503, answer.text
    # Answered once: the SDK did not retry into a second job.
    assert answer.request.headers["x-stainless-retry-count"] == "0"
    assert answer.headers["x-should-retry"] == "false"
    job_id = answer.headers["x-sentinel-job-id"]
    assert job_id.startswith("job_")
    problem = answer.json()["error"]
    assert problem["code"] == code and problem["job_id"] == job_id
    assert f"GET /v1/jobs/{job_id}" in problem["message"]
    return job_id
