"""A provider that refuses a job's request itself (a bad parameter, a rejected key) refuses every retry of it too:
the job ends after that one paid call, its reason names the provider's error, and a judged SDK request answers the
status a plain request answers for the same refusal (an OpenAI SDK retries 5xx, never 400). Only a provider that is
really away is retried and answered 503."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import clean_env, png_bytes, serving_with_fake, start_server, write_fake_routes
from tests.keys.test_keys import create_key

#: What the fake answers every generation with, by the test's choice: (status, OpenAI error body).
REFUSALS: dict[str, tuple[int, dict[str, Any]]] = {
    "bad_request": (
        400,
        {
            "message": "Invalid value: 'hd-ultra'. Supported values are: 'low', 'medium', 'high'.",
            "type": "invalid_request_error",
            "param": "quality",
            "code": "invalid_value",
        },
    ),
    "bad_key": (
        401,
        {"message": "Incorrect API key provided: sk-fake.", "type": "invalid_request_error", "code": "invalid_api_key"},
    ),
    "away": (503, {"message": "The engine is currently overloaded.", "type": "server_error", "code": None}),
}


class RefusingProvider:
    """An OpenAI-shaped provider that answers every generation with ``REFUSALS[mode]`` and counts the calls."""

    def __init__(self) -> None:
        self.mode = "bad_request"
        self.calls = 0

    def app(self) -> Starlette:
        async def generations(request: Request) -> JSONResponse:
            self.calls += 1
            status, error = REFUSALS[self.mode]
            return JSONResponse({"error": error}, status_code=status)

        return Starlette(
            routes=[
                Route("/v1/images/generations", generations, methods=["POST"]),
                Route("/v1/images/edits", generations, methods=["POST"]),
            ]
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, RefusingProvider]]:
    """A server of its own per test: a provider that was away is cooled down, which must not reach the next test."""
    provider = RefusingProvider()
    with serve(provider.app()) as fake, serving_with_fake(fake.url, tmp_path) as base:
        yield base, provider


def generation(base: str, judged: bool, **sentinel: Any) -> httpx.Response:
    body: dict[str, Any] = {"prompt": "a red mug on a white background", "size": "1024x1024"}
    if judged:
        body["sentinel"] = {"task": "product-white-background", "max_attempts": 3, **sentinel}
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=120)


def job_of(base: str, answer: httpx.Response) -> dict[str, Any]:
    return httpx.get(f"{base}/v1/jobs/{answer.headers['x-sentinel-job-id']}", timeout=10).json()


@pytest.mark.parametrize(("mode", "status", "code"), [("bad_request", 400, "invalid_value"), ("bad_key", 502, None)])
def test_a_refused_judged_request_answers_as_a_plain_one_after_one_call(
    stack: tuple[str, RefusingProvider], mode: str, status: int, code: str | None
) -> None:
    base, provider = stack
    provider.mode = mode
    plain = generation(base, judged=False)
    assert plain.status_code == status, plain.text
    provider.calls = 0

    judged = generation(base, judged=True)
    assert judged.status_code == status, judged.text
    error = judged.json()["error"]
    assert error["type"] == plain.json()["error"]["type"], (error, plain.json())
    assert error["code"] in {code, plain.json()["error"]["code"], "invalid_request"}, error
    assert REFUSALS[mode][1]["message"] in error["message"], error
    # The same request again could only be refused again: one paid call, not max_attempts of them.
    assert provider.calls == 1
    job = job_of(base, judged)
    assert job["state"] == "failed", job
    assert [a["number"] for a in job["attempts"]] == [1], job["attempts"]
    assert job["attempts"][0]["failure"] == ("invalid_request" if mode == "bad_request" else "auth")
    assert REFUSALS[mode][1]["message"] in job["reason"], job["reason"]


def test_a_job_the_provider_refuses_ends_after_one_call(stack: tuple[str, RefusingProvider]) -> None:
    base, provider = stack
    created = httpx.post(
        f"{base}/v1/jobs",
        json={"task": "product-white-background", "prompt": "a red mug", "n": 2, "max_attempts": 4},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=60", timeout=70).json()
    assert job["state"] == "failed", job
    assert sorted((a["slot"], a["number"]) for a in job["attempts"]) == [(0, 1), (1, 1)], job["attempts"]
    assert provider.calls == 2
    assert "Supported values are" in job["reason"], job["reason"]


def test_a_provider_that_is_away_is_retried_and_answered_503(stack: tuple[str, RefusingProvider]) -> None:
    base, provider = stack
    provider.mode = "away"
    judged = generation(base, judged=True, max_attempts=2, budget_seconds=60)
    assert judged.status_code == 503, judged.text
    assert judged.json()["error"]["code"] == "providers_unavailable"
    job = job_of(base, judged)
    assert [a["number"] for a in job["attempts"]] == [1, 2], job["attempts"]
    assert {a["failure"] for a in job["attempts"]} == {"unavailable"}


def openai_mask() -> bytes:
    """OpenAI's kind of mask: opaque, with a transparent square where the image is to change."""
    mask = Image.new("RGBA", (256, 256), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (96, 96, 160, 160))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_refused_judged_edit_answers_as_a_plain_one_after_one_call(stack: tuple[str, RefusingProvider]) -> None:
    base, provider = stack
    provider.mode = "bad_key"
    files = {"image": ("photo.png", png_bytes(256, 256), "image/png"), "mask": ("mask.png", openai_mask(), "image/png")}
    fields = {"prompt": "remove the ball", "sentinel[task]": "object-removal", "sentinel[max_attempts]": "3"}
    judged = httpx.post(f"{base}/v1/images/edits", data=fields, files=files, timeout=120)
    assert judged.status_code == 502, judged.text
    assert judged.json()["error"]["code"] == "provider_auth_failed"
    assert provider.calls == 1
    job = job_of(base, judged)
    assert [(a["number"], a["failure"]) for a in job["attempts"]] == [(1, "auth")]


def test_a_judged_request_past_the_spend_cap_is_a_402_as_a_plain_one(tmp_path: Path) -> None:
    provider = RefusingProvider()
    with serve(provider.app()) as fake:
        routes = yaml.safe_load(write_fake_routes(tmp_path / "routes.yaml", fake.url).read_text())
        routes["models"]["house"]["cost_per_image"] = 0.01
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
            SENTINEL_API_KEY_CACHE_SECONDS="0",
            FAKE_KEY="sk-fake",
        )
        token = create_key(env, "--name", "capped", "--spend-cap", "0.005", "--period", "day")
        headers = {"Authorization": f"Bearer {token}"}
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            body: dict[str, Any] = {"prompt": "a red mug", "size": "1024x1024"}
            plain = httpx.post(f"{base}/v1/images/generations", json=body, headers=headers, timeout=60)
            assert plain.status_code == 402, plain.text
            body["sentinel"] = {"task": "product-white-background", "max_attempts": 3}
            judged = httpx.post(f"{base}/v1/images/generations", json=body, headers=headers, timeout=120)
            assert judged.status_code == 402, judged.text
            assert judged.json()["error"]["code"] == plain.json()["error"]["code"] == "spend_cap_reached"
            job = httpx.get(f"{base}/v1/jobs/{judged.headers['x-sentinel-job-id']}", headers=headers, timeout=10).json()
            assert [(a["number"], a["failure"]) for a in job["attempts"]] == [(1, "spend_cap_reached")], job
            assert provider.calls == 0
        finally:
            server.stop()
