"""A Gemini answer without an inline image: only words that decline are a content-policy refusal. Cheerful words or
draft images alone are a failed generation (retried, or served by the next candidate), and an image sent other
than inline is the provider's drift (outside probe F20)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.google import GoogleProvider
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes import openai as fake_openai
from sentinel_fakes.server import Script, png_image, serve
from tests.providers.harness import AdapterRunner

GEMINI = "gemini-2.5-flash-image"
PNG = base64.b64encode(png_image(64, 64, seed=3)).decode()

SURE = "Sure! Here is a red lighthouse standing on a rocky cliff at sunset."
TEXT_ONLY = {"content": {"role": "model", "parts": [{"text": SURE}]}, "finishReason": "STOP", "index": 0}
THOUGHT_ONLY = {
    "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}, "thought": True}]},
    "finishReason": "STOP",
}


def file_data(uri: str) -> dict[str, Any]:
    return {"content": {"parts": [{"fileData": {"mimeType": "image/png", "fileUri": uri}}]}, "finishReason": "STOP"}


generate = AdapterRunner(
    lambda base, client, timeout: GoogleProvider(base, "test-key", client, timeout=timeout), GEMINI
)


def answer(candidate: dict[str, Any]) -> ProviderResult:
    """The adapter's reading of a 200 holding ``candidate``, over an in-memory transport."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"candidates": [candidate]}))
    return generate("http://google.test", transport=transport)


def words(text: str, reason: str = "STOP") -> dict[str, Any]:
    return {"content": {"parts": [{"text": text}]}, "finishReason": reason}


def test_cheerful_words_without_an_image_are_a_failed_generation_not_a_refusal() -> None:
    result = answer(TEXT_ONLY)
    assert result.outcome is Outcome.UNAVAILABLE
    assert SURE in result.message and "without an image" in result.message


@pytest.mark.parametrize(
    "said",
    [
        "I can\u2019t create images of real people.",
        "Sorry, I'm unable to generate that picture.",
        "I'm just a language model, so I cannot help with that.",
        "This request goes against my guidelines for image generation.",
        "That would violate the content policy.",
    ],
)
def test_words_that_decline_are_still_a_content_policy_refusal(said: str) -> None:
    result = answer(words(said))
    assert result.outcome is Outcome.CONTENT_FILTERED
    assert said in result.message


def test_a_refusal_after_the_quoted_part_of_long_words_is_still_read() -> None:
    said = "Let me think about lighthouses and cliffs at sunset. " * 10 + "In the end I cannot draw this."
    assert answer(words(said)).outcome is Outcome.CONTENT_FILTERED


@pytest.mark.parametrize(
    "part",
    [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://files.example/out.png"}},
        {"file_data": {"mime_type": "image/png", "file_uri": "gs://bucket/out.png"}},
        {"blob": {"mimeType": "image/webp", "uri": "https://files.example/out.webp"}},
        {"inlineData": {"mimeType": "image/png", "data": ""}, "text": "Here it is"},
    ],
)
def test_an_image_in_a_part_not_read_is_the_providers_drift(part: dict[str, Any]) -> None:
    result = answer({"content": {"parts": [part]}, "finishReason": "STOP"})
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER
    assert next(iter(part)) in result.message


def test_draft_images_alone_are_a_failed_generation_and_say_so() -> None:
    result = answer(THOUGHT_ONLY)
    assert result.outcome is Outcome.UNAVAILABLE
    assert "draft (thought) image" in result.message and "no final image" in result.message


def test_safety_reasons_and_a_silent_stop_stay_refusals() -> None:
    assert answer(words(SURE, "IMAGE_SAFETY")).outcome is Outcome.CONTENT_FILTERED
    assert answer({"finishReason": "STOP"}).outcome is Outcome.CONTENT_FILTERED


# -- what a route does with them --------------------------------------------------------------------------------


def gemini_fake(answers: list[dict[str, Any]], seen: list[dict[str, Any]]) -> Starlette:
    """Gemini's ``:generateContent`` answering each candidate of ``answers`` in turn (the last one from then on)."""

    async def generate_content(request: Request) -> JSONResponse:
        seen.append(await request.json())
        candidate = answers[min(len(seen), len(answers)) - 1]
        return JSONResponse({"candidates": [candidate], "modelVersion": GEMINI})

    return Starlette(routes=[Route("/v1beta/models/{model}:generateContent", generate_content, methods=["POST"])])


@pytest.fixture(autouse=True)
def keys(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.setenv("GEMINI_TEST_KEY", "g-test")


@pytest.fixture
def beta() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(fake_openai.create_app(script)) as server:
        yield server.url, script


def route(gemini_url: str, beta_url: str | None) -> RoutingConfig:
    providers: dict[str, Any] = {
        "gem": {"kind": "google", "base_url": gemini_url, "api_key_env": "GEMINI_TEST_KEY", "timeout_seconds": 5}
    }
    candidates = [{"target": f"gem:{GEMINI}"}]
    if beta_url is not None:
        providers["beta"] = {
            "kind": "openai",
            "base_url": f"{beta_url}/v1",
            "api_key_env": "FAKE_KEY",
            "timeout_seconds": 5,
        }
        candidates.append({"target": "beta:dall-e-3"})
    # No fallback_on_content_filter: a refusal would end the walk at the first candidate.
    return RoutingConfig.model_validate(
        {"providers": providers, "models": {"images": {"candidates": candidates}}, "default_model": "images"}
    )


def walk(config: RoutingConfig) -> RouteResult:
    settings = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), settings)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a red lighthouse"))

    return asyncio.run(go())


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in result.attempts]


@pytest.mark.parametrize("said", [TEXT_ONLY, THOUGHT_ONLY])
def test_a_route_serves_the_image_from_the_next_candidate_after_words_or_drafts(beta, said) -> None:
    beta_url, _ = beta
    seen: list[dict[str, Any]] = []
    with serve(gemini_fake([said], seen)) as gemini:
        result = walk(route(gemini.url, beta_url))
    assert result.image is not None and result.image.provider == "beta"
    assert outcomes(result) == [("gem", "unavailable"), ("beta", "ok")]


def test_a_lone_gemini_candidate_is_asked_again_after_words_and_delivers() -> None:
    seen: list[dict[str, Any]] = []
    drawn = {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}, "finishReason": "STOP"}
    with serve(gemini_fake([TEXT_ONLY, drawn], seen)) as gemini:
        result = walk(route(gemini.url, None))
    assert result.image is not None
    assert outcomes(result) == [("gem", "unavailable"), ("gem", "ok")]


def test_an_image_sent_as_file_data_is_asked_once_and_the_next_candidate_serves(beta) -> None:
    beta_url, _ = beta
    seen: list[dict[str, Any]] = []
    with serve(gemini_fake([file_data(f"{beta_url}/files/out.png")], seen)) as gemini:
        result = walk(route(gemini.url, beta_url))
    assert result.image is not None and result.image.provider == "beta"
    assert outcomes(result) == [("gem", "unrecognised_answer"), ("beta", "ok")]
    assert "fileData" in result.attempts[0].message
    assert len(seen) == 1
