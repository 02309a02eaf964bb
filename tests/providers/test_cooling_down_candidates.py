"""A request whose candidates are all cooling down (their breakers open after failures) is told when the first one
closes (the gateway's 503 carries it as Retry-After), and a candidate this request already called and saw fail is
not probed again by its second pass (probe B6)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from tests.providers.scripted_answers import LOOPBACK, Answers, outcomes, providers

DOWN = (503, {}, b'{"error": {"message": "The server is overloaded", "type": "server_error"}}')
COOLDOWN = 30.0


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


def requests_in_a_row(urls: dict[str, str], count: int, failure_threshold: int) -> list[RouteResult]:
    breaker = {"failure_threshold": failure_threshold, "cooldown_seconds": COOLDOWN}
    config = RoutingConfig.model_validate(
        {
            "providers": {
                name: {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY", "circuit_breaker": breaker}
                for name, url in urls.items()
            },
            "models": {"images": {"candidates": [{"target": f"{name}:dall-e-3"} for name in urls]}},
            "default_model": "images",
            "max_passes": 2,
        }
    )

    async def go() -> list[RouteResult]:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            return [await router.generate(router.resolve("images"), ImageSpec(prompt="a")) for _ in range(count)]

    return asyncio.run(go())


def test_a_candidate_that_failed_and_opened_its_breaker_is_not_probed_again_in_the_same_request() -> None:
    down = Answers([DOWN])
    with providers(down=down) as urls:
        (result,) = requests_in_a_row(urls, 1, failure_threshold=1)
    assert len(down.paths) == 1
    assert outcomes(result) == [("down", "unavailable"), ("down", "skipped")]
    failed = result.last_failure
    assert failed is not None and failed.outcome is Outcome.UNAVAILABLE
    assert 0 < (failed.retry_after or 0) <= COOLDOWN


def test_each_later_request_probes_a_cooling_candidate_once_and_says_when_to_come_back() -> None:
    down = Answers([DOWN])
    with providers(down=down) as urls:
        results = requests_in_a_row(urls, 3, failure_threshold=1)
    # One call per request: the probe of the open breaker, never a second one in the same request.
    assert len(down.paths) == 3
    for result in results:
        assert result.calls == 1
        assert result.last_failure is not None
        assert 0 < (result.last_failure.retry_after or 0) <= COOLDOWN


def test_every_candidate_cooling_down_gives_the_earliest_end() -> None:
    first, second = Answers([DOWN]), Answers([DOWN])
    with providers(first=first, second=second) as urls:
        results = requests_in_a_row(urls, 2, failure_threshold=1)
    assert len(first.paths) + len(second.paths) == 4
    for result in results:
        assert result.last_failure is not None
        assert 0 < (result.last_failure.retry_after or 0) <= COOLDOWN
