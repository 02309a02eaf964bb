"""An OpenAI-compatible gateway that answers a failure as a 200 carrying ``{"error": {...}}`` is read as that error:
its message reaches the caller (keys redacted, cut like every provider's words), and it counts as what the same
error counts as at its real status (a rejected key is ``auth``, not a passing outage), never as a shape Sentinel
does not know."""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel.providers.base import Operation, Outcome
from sentinel.providers.openai import OpenAIProvider
from sentinel_fakes.server import png_image, serve
from tests.conftest import serving_with_fake
from tests.providers.harness import AdapterRunner

KEY = "sk-gw-0123456789abcdefSECRETtail"

#: What the gateway answers next: (headers, body), always with status 200.
Answers = collections.deque[tuple[dict[str, str], Any]]


def gateway(answers: Answers) -> Starlette:
    """A gateway in front of the Images API that answers each call with the next scripted 200."""

    async def answer(request: Request) -> JSONResponse:
        headers, body = answers.popleft()
        return JSONResponse(body, status_code=200, headers=headers)

    return Starlette(
        routes=[
            Route("/v1/images/generations", answer, methods=["POST"]),
            Route("/v1/images/edits", answer, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, Answers]]:
    answers: Answers = collections.deque()
    with serve(gateway(answers)) as server:
        yield server.url, answers


generate = AdapterRunner(
    lambda base, client, timeout: OpenAIProvider(f"{base}/v1", KEY, client, timeout=timeout, name="gw"), "gpt-image-1"
)


def error(message: str, **fields: object) -> dict[str, Any]:
    return {"error": {"message": message, **fields}}


@pytest.mark.parametrize(
    ("body", "outcome", "words"),
    [
        # The outside probe's answer, word for word, plus the key some gateways echo.
        (
            error(f"Incorrect API key provided: {KEY}", code="invalid_api_key"),
            Outcome.AUTH,
            "Incorrect API key provided: [provider key]",
        ),
        (error("Invalid authentication", type="authentication_error"), Outcome.AUTH, "Invalid authentication"),
        (
            # No credit: billing, not a rate limit (outside probe F4).
            error("You exceeded your current quota", type="insufficient_quota", code="insufficient_quota"),
            Outcome.AUTH,
            "You exceeded your current quota",
        ),
        (
            error("Rate limit reached for images per minute", type="requests", code="rate_limit_exceeded"),
            Outcome.RATE_LIMITED,
            "Rate limit reached",
        ),
        (error("The server had an error", type="server_error"), Outcome.UNAVAILABLE, "The server had an error"),
        (error("Engine overloaded", type="overloaded"), Outcome.UNAVAILABLE, "Engine overloaded"),
        # OpenRouter's shape: the HTTP status it would have answered, as the code.
        (error("Upstream provider returned an error", code=502), Outcome.UNAVAILABLE, "Upstream provider returned"),
        (error("Provider key rejected", code="401"), Outcome.AUTH, "Provider key rejected"),
        (
            error("Your request was rejected by the safety system", code="content_policy_violation"),
            Outcome.CONTENT_FILTERED,
            "rejected by the safety system",
        ),
        (
            error("Request blocked", type="image_generation_user_error", code="moderation_blocked"),
            Outcome.CONTENT_FILTERED,
            "Request blocked",
        ),
        (
            error("The model `gpt-image-1` does not exist", code="model_not_found"),
            Outcome.MODEL_NOT_FOUND,
            "does not exist",
        ),
        # Kinds Sentinel does not know: drift, with the gateway's words kept for the operator.
        (error("channel group misconfigured", type="new_api_error"), Outcome.UNRECOGNISED_ANSWER, "channel group"),
        ({"error": "upstream said no"}, Outcome.UNRECOGNISED_ANSWER, "upstream said no"),
        # The documented list, empty, and the error beside it.
        ({"data": [], **error("Incorrect API key provided", code="invalid_api_key")}, Outcome.AUTH, "Incorrect API"),
    ],
)
def test_an_error_inside_a_200_is_that_error(fake, body: dict[str, Any], outcome: Outcome, words: str) -> None:
    base, answers = fake
    answers.append(({}, body))
    result = generate(base)
    assert result.outcome is outcome, result.message
    assert words in result.message
    assert "shape" not in result.message and "SECRET" not in result.message
    assert not result.images and result.status_code == 200


def test_a_quota_error_in_a_200_passes_on_the_wait_the_gateway_asked_for(fake) -> None:
    base, answers = fake
    answers.append(({"Retry-After": "7"}, error("Rate limit reached", code="rate_limit_exceeded")))
    result = generate(base)
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after == 7.0


def test_the_gateways_words_are_cut_as_every_providers_are(fake) -> None:
    base, answers = fake
    answers.append(({}, error("x" * 5000, type="new_api_error")))
    result = generate(base)
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER
    assert "x" * 300 in result.message and "x" * 301 not in result.message


def test_an_edit_answered_with_an_error_in_a_200_is_that_error(fake) -> None:
    base, answers = fake
    answers.append(({}, error("Incorrect API key provided", code="invalid_api_key")))
    result = generate(base, image=png_image(), operation=Operation.EDIT)
    assert result.outcome is Outcome.AUTH
    assert "Incorrect API key provided" in result.message


def test_the_gateway_answers_the_caller_with_the_providers_words_and_files_it_as_auth(tmp_path: Path) -> None:
    answers: Answers = collections.deque()
    answers.append(({}, error("Incorrect API key provided", code="invalid_api_key")))
    with serve(gateway(answers)) as fake, serving_with_fake(fake.url, tmp_path) as base:
        answer = httpx.post(f"{base}/v1/images/generations", json={"prompt": "a red mug"}, timeout=60)
    assert answer.status_code == 502, answer.text
    failed = answer.json()["error"]
    assert failed["code"] == "provider_auth_failed"
    assert "Incorrect API key provided" in failed["message"]
    with sqlite3.connect(tmp_path / "data" / "sentinel.db") as database:
        outcomes = [row[0] for row in database.execute("SELECT outcome FROM provider_calls")]
    assert outcomes == ["auth"]
