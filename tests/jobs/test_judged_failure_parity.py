"""A judged SDK request (`extra_body={"sentinel": {"task": ...}}`) that gets no image answers what a plain request
answers for the same provider failure: the same status, error type, code and `param` (an SDK shows the field to
fix), `Retry-After` on a 429 (an SDK waits that long before its retry), and the `x-sentinel-*` headers that say
who was called. Only `x-sentinel-job-id` is the judged answer's own."""

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
from tests.conftest import serving_with_fake

#: What the fake answers every generation with, by failure kind: (status, headers, OpenAI error body).
FAILURES: dict[str, tuple[int, dict[str, str], dict[str, Any]]] = {
    "invalid_request": (
        400,
        {},
        {
            "message": "Invalid value: 'hd-ultra'. Supported values are: 'low', 'medium', 'high'.",
            "type": "invalid_request_error",
            "param": "quality",
            "code": "invalid_value",
        },
    ),
    "rate_limited": (
        429,
        {"Retry-After": "120"},
        {"message": "Rate limit reached for images per minute.", "type": "requests", "code": "rate_limit_exceeded"},
    ),
    "unavailable": (
        503,
        {"Retry-After": "90"},
        {"message": "The engine is currently overloaded.", "type": "server_error", "param": None, "code": None},
    ),
    "auth": (
        401,
        {},
        {"message": "Incorrect API key provided: sk-fake.", "type": "invalid_request_error", "code": "invalid_api_key"},
    ),
    "content_filtered": (
        400,
        {},
        {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
            "param": None,
            "code": "content_policy_violation",
        },
    ),
}


def failing_provider(kind: str) -> Starlette:
    status, headers, error = FAILURES[kind]

    async def generations(request: Request) -> JSONResponse:
        return JSONResponse({"error": error}, status_code=status, headers=headers)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


@pytest.fixture
def failing_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server of its own per failure kind: a provider that asked to wait stays cooled down for that server."""
    with serve(failing_provider(request.param)) as fake, serving_with_fake(fake.url, tmp_path) as base:
        yield base


def generate(base: str, judged: bool) -> httpx.Response:
    body: dict[str, Any] = {"prompt": "a red mug on a white background", "size": "1024x1024"}
    if judged:
        body["sentinel"] = {"task": "product-white-background", "max_attempts": 1}
    return httpx.post(f"{base}/v1/images/generations", json=body, timeout=120)


#: Headers that differ between any two answers, or that only a judged answer has.
OWN_HEADERS = {
    "date",
    "content-length",
    "x-request-id",
    "x-sentinel-request-id",
    "x-sentinel-job-id",
    "retry-after",
    # Where each request left the caller's rate-limit window.
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
}


@pytest.mark.parametrize("failing_stack", list(FAILURES), indirect=True)
def test_a_judged_failure_carries_what_the_plain_failure_carries(failing_stack: str) -> None:
    base = failing_stack
    # The judged request first: the provider's answer cools it down, and the plain request after it is answered
    # from that cooldown as a plain request sent again would be.
    judged = generate(base, judged=True)
    plain = generate(base, judged=False)
    assert plain.status_code >= 400, plain.text
    assert judged.status_code == plain.status_code, (plain.text, judged.text)

    plain_error, judged_error = plain.json()["error"], judged.json()["error"]
    assert set(judged_error) >= set(plain_error), (plain_error, judged_error)
    for field in ("type", "code", "param", "field"):
        assert judged_error.get(field) == plain_error.get(field), (field, plain_error, judged_error)

    plain_headers = {k for k in plain.headers if k not in OWN_HEADERS}
    assert plain_headers <= set(judged.headers), plain_headers - set(judged.headers)
    for name in plain_headers - {"x-sentinel-attempts"}:
        assert judged.headers[name] == plain.headers[name], (name, plain.headers, judged.headers)
    assert judged.headers["x-sentinel-request-id"] == judged.headers["x-sentinel-job-id"]
    # A wait the provider asked for is passed on (what is left of it when each answer is sent).
    if "retry-after" in plain.headers:
        assert abs(int(judged.headers.get("retry-after", "0")) - int(plain.headers["retry-after"])) <= 10, (
            plain.headers,
            judged.headers,
        )
    else:
        assert "retry-after" not in judged.headers, judged.headers
