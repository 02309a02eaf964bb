"""A job whose every candidate is refused by the set-up (no provider key here, the model gone at the provider) cannot
get an image from another attempt, nor from a retry until an operator changes something: it stops after one attempt
that says so, and a judged SDK request answers with ``x-should-retry: false`` as a plain one does. A provider that is
only away is retried as before, and its answer invites a retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import clean_env, start_server, write_fake_routes

#: What the fake answers every generation with, by mode: (status, OpenAI error body).
ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "gone": (
        404,
        {
            "message": "The model `gpt-image-1` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        },
    ),
    "away": (503, {"message": "The engine is currently overloaded.", "type": "server_error", "code": None}),
}


class Provider:
    """An OpenAI-shaped provider answering every generation with ``ANSWERS[mode]``, counting the calls."""

    def __init__(self) -> None:
        self.mode = "gone"
        self.calls = 0

    def app(self) -> Starlette:
        async def generations(request: Request) -> JSONResponse:
            self.calls += 1
            status, error = ANSWERS[self.mode]
            return JSONResponse({"error": error}, status_code=status)

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def serving(tmp_path: Path, fake_url: str, **env: str) -> Iterator[str]:
    routes = write_fake_routes(tmp_path / "routes.yaml", fake_url)
    server, base = start_server(
        clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes), **env), tmp_path / "serve.log"
    )
    try:
        yield base
    finally:
        server.stop()


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[str]:
    """A server whose one provider has no key here (FAKE_KEY unset): nothing is ever called."""
    yield from serving(tmp_path, "http://127.0.0.1:9")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Provider]]:
    """A server of its own per test, its provider's key set: what one test's provider said cools no other's."""
    provider = Provider()
    with serve(provider.app()) as fake:
        yield from ((base, provider) for base in serving(tmp_path, fake.url, FAKE_KEY="sk-fake"))


def judged(base: str, **sentinel: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "prompt": "a red mug on a white background",
        "size": "1024x1024",
        "sentinel": {"task": "product-white-background", "max_attempts": 3, **sentinel},
    }
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=120)


def plain(base: str) -> httpx.Response:
    body = {"prompt": "a red mug on a white background", "size": "1024x1024"}
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=60)


def job_of(base: str, answer: httpx.Response) -> dict[str, Any]:
    return httpx.get(f"{base}/v1/jobs/{answer.headers['x-sentinel-job-id']}", timeout=10).json()


def test_a_job_with_no_provider_key_stops_after_one_attempt_and_says_why(keyless: str) -> None:
    base = keyless
    created = httpx.post(
        f"{base}/v1/jobs", json={"task": "text-to-image", "prompt": "a red ball", "max_attempts": 4}, timeout=30
    )
    assert created.status_code == 202, created.text
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=60", timeout=70).json()
    assert job["state"] == "failed", job
    # One attempt that called no provider, not max_attempts of them.
    assert [(a["number"], a["state"], a["provider"]) for a in job["attempts"]] == [(1, "failed", None)], job
    attempt = job["attempts"][0]
    assert attempt["failure"] == "unavailable" and attempt["unchanging"] is True, attempt
    assert "FAKE_KEY is not set" in attempt["error"], attempt
    assert "FAKE_KEY is not set" in job["reason"], job["reason"]
    assert "not attempted again" in job["reason"], job["reason"]


def test_a_judged_request_with_no_provider_key_answers_as_a_plain_one_and_says_not_to_retry(keyless: str) -> None:
    base = keyless
    direct = plain(base)
    assert direct.status_code == 503, direct.text
    assert direct.headers.get("x-should-retry") == "false", direct.headers

    answer = judged(base)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == direct.json()["error"]["code"] == "providers_unavailable"
    assert answer.headers.get("x-should-retry") == "false", answer.headers
    assert "FAKE_KEY is not set" in answer.json()["error"]["message"], answer.json()
    job = job_of(base, answer)
    assert [(a["number"], a["unchanging"]) for a in job["attempts"]] == [(1, True)], job["attempts"]


def test_a_judged_request_for_a_model_gone_at_the_provider_is_asked_once(stack: tuple[str, Provider]) -> None:
    base, provider = stack
    answer = judged(base)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "model_unavailable", answer.json()
    assert answer.headers.get("x-should-retry") == "false", answer.headers
    # The provider said its model is gone: asking it twice more would only hear the same.
    assert provider.calls == 1
    job = job_of(base, answer)
    assert job["state"] == "failed", job
    assert [(a["number"], a["failure"], a["unchanging"]) for a in job["attempts"]] == [(1, "model_not_found", True)]
    assert "does not exist" in job["reason"] and "not attempted again" in job["reason"], job["reason"]


def test_a_provider_that_is_away_is_still_retried_and_its_answer_invites_a_retry(stack: tuple[str, Provider]) -> None:
    base, provider = stack
    provider.mode = "away"
    answer = judged(base, max_attempts=2, budget_seconds=60)
    assert answer.status_code == 503, answer.text
    assert "x-should-retry" not in answer.headers, answer.headers
    job = job_of(base, answer)
    assert [(a["number"], a["failure"], a["unchanging"]) for a in job["attempts"]] == [
        (1, "unavailable", False),
        (2, "unavailable", False),
    ], job["attempts"]
    assert provider.calls == 2
