"""An image the provider made and billed, whose answer never reached us, is not bought again from the same candidate.

A finished fal job whose result URL keeps answering 502, or an OpenAI-style answer whose output URL keeps failing
(Replicate's output files go the same way through the router's fetcher): the call is logged at its price, marked as
paid and undelivered, and the walk moves to the next candidate, or fails naming the undelivered result, without a
second (paid) submission to that candidate on the router's next pass. Against small fakes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app as openai_app
from sentinel_fakes.server import Script, serve
from tests.providers.test_fal_result_retry import MODEL as FAL_MODEL
from tests.providers.test_fal_result_retry import RESULT_FAILURES, flaky_queue

LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])
PRICE = 0.05


def unreachable_output(posts: list[str]) -> Starlette:
    """An OpenAI-style images API that makes (and would bill) an image per POST, answered as a URL on itself whose
    every download answers 502 (a CDN in front of the outputs that is down)."""

    async def generate(request: Request) -> Response:
        posts.append(request.url.path)
        return JSONResponse({"created": 1, "data": [{"url": f"{request.base_url}files/out.png"}]})

    async def download(request: Request) -> Response:
        return Response(b"<html>502 Bad Gateway</html>", status_code=502, media_type="text/html")

    return Starlette(
        routes=[
            Route("/v1/images/generations", generate, methods=["POST"]),
            Route("/files/out.png", download),
        ]
    )


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    fal_script, healthy, posts = Script(), Script(), []
    RESULT_FAILURES["per_job"] = 1000  # every read of every job's result answers 502
    with (
        serve(flaky_queue(fal_script)) as fal,
        serve(openai_app(healthy)) as openai,
        serve(unreachable_output(posts)) as cdn_down,
    ):
        monkeypatch.setenv("FAKE_KEY", "sk-test-key")
        yield {
            "urls": {"fal": fal.url, "healthy": f"{openai.url}/v1", "cdn_down": f"{cdn_down.url}/v1"},
            "fal": fal_script,
            "healthy": healthy,
            "cdn_down": posts,
        }
    RESULT_FAILURES["per_job"] = 0


def routing(fakes: dict[str, Any], targets: list[str]) -> RoutingConfig:
    kinds = {"fal": "fal", "healthy": "openai", "cdn_down": "openai"}
    providers = {
        name: {
            "kind": kinds[name],
            "base_url": fakes["urls"][name],
            "api_key_env": "FAKE_KEY",
            "poll_interval_seconds": 0.02,
        }
        for name in kinds
    }
    return RoutingConfig.model_validate(
        {
            "providers": providers,
            "models": {"images": {"candidates": [{"target": t} for t in targets], "cost_per_image": PRICE}},
            "default_model": "images",
            "max_passes": 3,
        }
    )


def run(config: RoutingConfig) -> RouteResult:
    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a lighthouse", width=1024))

    return asyncio.run(go())


def fal_submissions(script: Script) -> int:
    return sum(1 for r in script.requests if r["method"] == "POST")


def test_a_fal_result_that_keeps_failing_is_paid_once_and_the_next_candidate_serves(fakes) -> None:
    result = run(routing(fakes, [f"fal:{FAL_MODEL}", "healthy:dall-e-3"]))
    assert result.image is not None and result.image.provider == "healthy"
    # One fal job bought, not one per pass of the router.
    assert fal_submissions(fakes["fal"]) == 1
    fal_call, served = [a for a in result.attempts if a.outcome != "skipped"]
    assert fal_call.provider == "fal" and fal_call.cost == pytest.approx(PRICE)
    assert "billed" in fal_call.message and "not bought again" in fal_call.message
    assert served.provider == "healthy" and served.cost == pytest.approx(PRICE)


def test_a_lone_fal_candidate_fails_naming_the_undelivered_result_without_a_second_job(fakes) -> None:
    result = run(routing(fakes, [f"fal:{FAL_MODEL}"]))
    assert result.image is None
    assert fal_submissions(fakes["fal"]) == 1
    assert result.last_failure is not None and result.last_failure.paid
    assert "finished fal job's result" in result.last_failure.message and "502" in result.last_failure.message
    assert [a.cost for a in result.attempts] == [pytest.approx(PRICE)]


def test_an_output_address_that_keeps_failing_is_not_bought_again_from_the_same_candidate(fakes) -> None:
    result = run(routing(fakes, ["cdn_down:dall-e-3"]))
    assert result.image is None
    assert len(fakes["cdn_down"]) == 1  # one image bought; the router's later passes do not buy another
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.UNAVAILABLE
    assert "provider's image was made and billed" in result.last_failure.message
    assert [a.cost for a in result.attempts] == [pytest.approx(PRICE)]


def test_an_output_address_that_keeps_failing_falls_back_to_the_next_candidate(fakes) -> None:
    result = run(routing(fakes, ["cdn_down:dall-e-3", "healthy:dall-e-3"]))
    assert result.image is not None and result.image.provider == "healthy"
    assert len(fakes["cdn_down"]) == 1
    assert [(a.provider, a.cost) for a in result.attempts] == [
        ("cdn_down", pytest.approx(PRICE)),
        ("healthy", pytest.approx(PRICE)),
    ]
