"""A provider's failure is untrusted text: a ``Retry-After`` that is not a finite number, and NUL characters in its
message, parameter or code, must give the caller the plain answer for that failure (429 with a sane Retry-After or
none, 400 naming the field), recorded in the call log on PostgreSQL (which refuses NUL in text), never a 500 or a
"database refused a value" 400 about the caller's own request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import serving_with_fake

#: The fake's answer, chosen by the prompt.
ANSWERS: dict[str, tuple[int, dict[str, str], dict[str, object]]] = {
    "retry-nan": (429, {"Retry-After": "nan"}, {"message": "slow down", "type": "rate_limit_error"}),
    "retry-inf": (429, {"Retry-After": "inf"}, {"message": "slow down", "type": "rate_limit_error"}),
    "retry-huge": (429, {"Retry-After": "1e400"}, {"message": "slow down", "type": "rate_limit_error"}),
    "nul-words": (
        400,
        {},
        {"message": "bad\x00size", "type": "invalid_request_error", "param": "si\x00ze", "code": "bad\x00code"},
    ),
    "nul-outage": (503, {}, {"message": "down\x00for maintenance", "type": "server_error"}),
}


def odd_provider() -> Starlette:
    async def generations(request: Request) -> JSONResponse:
        status, headers, error = ANSWERS[(await request.json())["prompt"]]
        return JSONResponse({"error": error}, status_code=status, headers=headers)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[str]:
    # One deployment per case: a 429 cools the provider down for the next request.
    with (
        serve(odd_provider()) as fake,
        serving_with_fake(fake.url, tmp_path, SENTINEL_DATABASE_URL=postgres_url) as base,
    ):
        yield base


def generate(base: str, prompt: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/images/generations", json={"prompt": prompt, "size": "1024x1024"}, timeout=60)


@pytest.mark.parametrize("prompt", ["retry-nan", "retry-inf", "retry-huge"])
def test_a_retry_after_that_is_not_a_finite_number_answers_a_plain_429(stack: str, prompt: str) -> None:
    answer = generate(stack, prompt)
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "rate_limit_exceeded" or answer.json()["error"]["type"]
    wait = answer.headers.get("retry-after")
    # None, or a whole number of seconds a client can sleep (capped at an hour, as any provider's wait is).
    assert wait is None or (wait.isdigit() and 1 <= int(wait) <= 3600), wait


def test_nul_in_a_refusal_names_the_field_without_it(stack: str) -> None:
    answer = generate(stack, "nul-words")
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "size"
    assert "\x00" not in answer.text and "\\u0000" not in answer.text
    assert "database" not in error["message"]


def test_nul_in_an_outage_message_answers_the_outage(stack: str) -> None:
    answer = generate(stack, "nul-outage")
    assert answer.status_code == 503, answer.text
    assert "database" not in answer.json()["error"]["message"]
