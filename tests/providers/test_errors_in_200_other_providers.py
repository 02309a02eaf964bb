"""A gateway in front of Google, Stability, Replicate or fal that answers a failure as a 200 carrying the provider's
own error body is read as that error: its words reach the caller (keys redacted before they are cut), and it counts
as what the same error counts as at its real status, not as drift or a passing outage with the words dropped."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel.providers.base import Outcome
from sentinel.providers.fal import FalProvider
from sentinel.providers.google import GoogleProvider
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.stability import StabilityProvider
from sentinel_fakes.server import serve
from tests.providers.harness import AdapterRunner

KEY = "sk-gw-0123456789abcdefSECRETtail"

#: What the gateway answers next: (status, headers, body).
Answers = collections.deque[tuple[int, dict[str, str], Any]]


def gateway(answers: Answers) -> Starlette:
    """A gateway in front of every provider: each provider call gets the next scripted answer, and fal's queue
    (submission, status) is answered as fal answers it, so its result is the scripted one."""

    async def scripted(request: Request) -> JSONResponse:
        status, headers, body = answers.popleft()
        return JSONResponse(body, status_code=status, headers=headers)

    async def fal_submit(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        urls = {f"{what}_url": f"{base}/fal-ai/flux/requests/r1{tail}" for what, tail in URLS.items()}
        return JSONResponse({"status": "IN_QUEUE", "request_id": "r1", **urls})

    async def fal_status(request: Request) -> JSONResponse:
        return JSONResponse({"status": "COMPLETED"})

    return Starlette(
        routes=[
            Route("/v1beta/models/{call:path}", scripted, methods=["POST"]),
            Route("/v2beta/stable-image/generate/{endpoint}", scripted, methods=["POST"]),
            Route("/v1/models/{owner}/{name}/predictions", scripted, methods=["POST"]),
            Route("/fal-ai/flux/requests/r1/status", fal_status, methods=["GET"]),
            Route("/fal-ai/flux/requests/r1", scripted, methods=["GET"]),
            Route("/fal-ai/flux/requests/r1/cancel", fal_status, methods=["PUT"]),
            Route("/fal-ai/flux/dev", fal_submit, methods=["POST"]),
        ]
    )


#: fal's queue URLs, by name, under the request's path.
URLS = {"status": "/status", "response": "", "cancel": "/cancel"}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, Answers]]:
    answers: Answers = collections.deque()
    with serve(gateway(answers)) as server:
        yield server.url, answers


google = AdapterRunner(lambda base, client, timeout: GoogleProvider(base, KEY, client, timeout=timeout), "x")
stability = AdapterRunner(
    lambda base, client, timeout: StabilityProvider(base, KEY, client, timeout=timeout), "stable-image-core"
)
replicate = AdapterRunner(
    lambda base, client, timeout: ReplicateProvider(base, KEY, client, timeout=timeout, poll_interval=0.01),
    "black-forest-labs/flux-schnell",
)
fal = AdapterRunner(
    lambda base, client, timeout: FalProvider(base, KEY, client, timeout=timeout, poll_interval=0.01), "fal-ai/flux/dev"
)

GEMINI = "gemini-2.5-flash-image"
IMAGEN = "imagen-4.0-generate-001"


def google_error(code: int | None, status: str, message: str, *details: dict[str, str]) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "status": status}
    if code is not None:
        error["code"] = code
    if details:
        error["details"] = list(details)
    return {"error": error}


KEY_REFUSED = google_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
)


@pytest.mark.parametrize(
    ("model", "body", "outcome", "words"),
    [
        (GEMINI, KEY_REFUSED, Outcome.AUTH, "API key not valid"),
        (IMAGEN, KEY_REFUSED, Outcome.AUTH, "API key not valid"),
        (GEMINI, google_error(None, "UNAUTHENTICATED", "Request had invalid credentials."), Outcome.AUTH, "invalid"),
        (
            GEMINI,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota.",
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"},
            ),
            Outcome.RATE_LIMITED,
            "You exceeded your current quota",
        ),
        (GEMINI, google_error(503, "UNAVAILABLE", "The model is overloaded."), Outcome.UNAVAILABLE, "overloaded"),
        (
            IMAGEN,
            google_error(404, "NOT_FOUND", f"models/{IMAGEN} is not found for API version v1beta"),
            Outcome.MODEL_NOT_FOUND,
            "is not found",
        ),
        (GEMINI, {"error": {"message": "gateway channel closed"}}, Outcome.UNRECOGNISED_ANSWER, "channel closed"),
    ],
)
def test_google_error_inside_a_200(fake, model: str, body: dict[str, Any], outcome: Outcome, words: str) -> None:
    base, answers = fake
    answers.append((200, {}, body))
    result = google(base, model=model)
    assert result.outcome is outcome, result.message
    assert words in result.message and "keys:" not in result.message
    if outcome is Outcome.RATE_LIMITED:
        assert result.retry_after == 27.0


def stability_error(name: str, *errors: str) -> dict[str, Any]:
    return {"id": "4f1b", "name": name, "errors": list(errors)}


@pytest.mark.parametrize(
    ("body", "outcome", "words"),
    [
        (stability_error("unauthorized", "authorization: invalid or missing header value"), Outcome.AUTH, "invalid"),
        (
            stability_error("rate_limit_exceeded", "You have exceeded the rate limit"),
            Outcome.RATE_LIMITED,
            "exceeded the rate limit",
        ),
        (
            stability_error("content_moderation", "Your request was flagged by our content moderation system"),
            Outcome.CONTENT_FILTERED,
            "flagged",
        ),
        (stability_error("gateway_quirk", "channel closed"), Outcome.UNRECOGNISED_ANSWER, "channel closed"),
    ],
)
def test_stability_error_inside_a_200(fake, body: dict[str, Any], outcome: Outcome, words: str) -> None:
    base, answers = fake
    answers.append((200, {}, body))
    result = stability(base)
    assert result.outcome is outcome, result.message
    assert words in result.message


def test_stability_redacts_an_echoed_key_before_cutting_its_words(fake) -> None:
    base, answers = fake
    answers.append((401, {}, stability_error("unauthorized", "y" * 270 + f" key {KEY} refused")))
    result = stability(base)
    assert result.outcome is Outcome.AUTH
    assert "y" * 200 in result.message and "sk-gw-01" not in result.message


@pytest.mark.parametrize(
    ("body", "outcome", "words"),
    [
        (
            {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401},
            Outcome.AUTH,
            "valid authentication token",
        ),
        (
            {"title": "Insufficient credit", "detail": "Add credit to continue", "status": 402},
            Outcome.AUTH,
            "credit",
        ),
        ({"title": "Internal error", "detail": "Something went wrong", "status": 500}, Outcome.UNAVAILABLE, "wrong"),
        ({"detail": "Invalid token."}, Outcome.UNRECOGNISED_ANSWER, "Invalid token."),
        ({"title": "Not found", "detail": "Not found.", "status": 404}, Outcome.UNRECOGNISED_ANSWER, "Not found."),
    ],
)
def test_replicate_error_inside_a_2xx(fake, body: dict[str, Any], outcome: Outcome, words: str) -> None:
    base, answers = fake
    answers.append((201, {}, body))
    result = replicate(base)
    assert result.outcome is outcome, result.message
    assert words in result.message


@pytest.mark.parametrize(
    ("body", "outcome", "words"),
    [
        (
            {
                "detail": [
                    {
                        "loc": ["body", "prompt"],
                        "msg": "The content could not be processed because it contained material flagged",
                        "type": "content_policy_violation",
                    }
                ]
            },
            Outcome.CONTENT_FILTERED,
            "prompt: The content could not be processed",
        ),
        ({"detail": "gateway channel closed"}, Outcome.UNRECOGNISED_ANSWER, "gateway channel closed"),
    ],
)
def test_fal_error_as_a_200_result(fake, body: dict[str, Any], outcome: Outcome, words: str) -> None:
    base, answers = fake
    answers.append((200, {}, body))
    result = fal(base)
    assert result.outcome is outcome, result.message
    assert words in result.message


def test_fal_redacts_an_echoed_key_in_a_failed_result_before_cutting_it(fake) -> None:
    base, answers = fake
    answers.append((200, {}, {"error": {"message": "y" * 270 + f" key {KEY} refused"}}))
    result = fal(base)
    assert result.outcome is Outcome.UNAVAILABLE
    assert "y" * 200 in result.message and "sk-gw-01" not in result.message
