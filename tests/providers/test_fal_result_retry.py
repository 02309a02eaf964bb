"""A fal job that finished is paid for: a passing failure to read its result is asked again, never resubmitted.

Against a small fal queue on 127.0.0.1 whose result URL answers ``502 Bad Gateway`` a set number of times per job
before it serves the result (a load balancer's hiccup in front of a finished job)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel.providers.base import Outcome
from sentinel.providers.fal import FalProvider
from sentinel_fakes.server import Script, png_image
from tests.providers.harness import AdapterRunner, RunningFake

MODEL = "owner/result502"
#: How many times each job's result answers 502 before it serves the image.
RESULT_FAILURES = {"per_job": 0}


def flaky_queue(script: Script) -> Starlette:
    """Each submission is a new job, COMPLETED at its first poll; its result answers 502 ``RESULT_FAILURES`` times,
    then the image. Every request is recorded on the script."""
    jobs: dict[str, int] = {}
    png = base64.b64encode(png_image(64, 64)).decode()

    async def submit(request: Request) -> Response:
        script.requests.append({"method": "POST", "path": request.url.path})
        job = f"j{len(jobs) + 1}"
        jobs[job] = 0
        root = f"{request.base_url}owner/result502/requests/{job}"
        return JSONResponse(
            {"request_id": job, "status_url": f"{root}/status", "response_url": root, "cancel_url": f"{root}/cancel"}
        )

    async def status(request: Request) -> Response:
        script.requests.append({"method": "GET", "path": request.url.path})
        return JSONResponse({"status": "COMPLETED"})

    async def result(request: Request) -> Response:
        script.requests.append({"method": "GET", "path": request.url.path})
        job = request.path_params["job"]
        jobs[job] += 1
        if jobs[job] <= RESULT_FAILURES["per_job"]:
            return Response("<html>Bad Gateway</html>", status_code=502, media_type="text/html")
        return JSONResponse({"images": [{"url": f"data:image/png;base64,{png}"}], "has_nsfw_concepts": [False]})

    return Starlette(
        routes=[
            Route(f"/{MODEL}", submit, methods=["POST"]),
            Route("/owner/result502/requests/{job}/status", status),
            Route("/owner/result502/requests/{job}", result),
        ]
    )


@pytest.fixture(scope="module")
def fake_app() -> Callable[[Script], Starlette]:
    return flaky_queue


generate = AdapterRunner(
    lambda base, client, timeout: FalProvider(base, "fal-test", client, timeout=timeout, poll_interval=0.02), MODEL
)


def submissions(script: Script, mark: int) -> list[dict]:
    return [r for r in script.requests[mark:] if r["method"] == "POST"]


def test_one_502_on_a_finished_jobs_result_is_read_again_not_resubmitted(fake: RunningFake) -> None:
    base, script = fake
    RESULT_FAILURES["per_job"] = 1
    mark = len(script.requests)
    result = generate(base)
    assert result.outcome is Outcome.OK, result.message
    assert result.images[0].data is not None
    # One job paid for; its result asked twice (the 502, then the image).
    assert len(submissions(script, mark)) == 1
    results = [r for r in script.requests[mark:] if r["method"] == "GET" and not r["path"].endswith("/status")]
    assert len(results) == 2


def test_a_result_that_keeps_failing_is_given_up_after_a_few_tries(fake: RunningFake) -> None:
    base, script = fake
    RESULT_FAILURES["per_job"] = 100
    mark = len(script.requests)
    result = generate(base)
    assert result.outcome is Outcome.UNAVAILABLE and "502" in result.message
    results = [r for r in script.requests[mark:] if r["method"] == "GET" and not r["path"].endswith("/status")]
    assert len(submissions(script, mark)) == 1 and len(results) == 3
