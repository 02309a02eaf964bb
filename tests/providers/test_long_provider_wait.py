"""A provider's own wait longer than five minutes is binding (outside probe F19): OpenAI's 429 saying its request
budget is back in 6m0s keeps the candidate uncalled for 360 s, not 300, and the caller is told 360 s. Only our own
breaker's cool-down is bounded by ``max_cooldown_seconds``."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.cooldown import CooldownPolicy, MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from tests.providers.scripted_answers import LOOPBACK, OK_ANSWER, Answers, openai_routing, providers

RATE_LIMITED = (
    b'{"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}'
)
SIX_MINUTES = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


def two_requests(limited: Answers) -> tuple[RouteResult, RouteResult]:
    """Two requests in a row on one router (its cool-downs shared), over the one candidate."""
    with providers(limited=limited) as urls:
        config = openai_routing(urls)

        async def go() -> tuple[RouteResult, RouteResult]:
            async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
                router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
                first = await router.generate(router.resolve("images"), ImageSpec(prompt="a red ball"))
                second = await router.generate(router.resolve("images"), ImageSpec(prompt="a red ball"))
                return first, second

        return asyncio.run(go())


def test_a_six_minute_wait_is_told_to_the_caller_and_kept() -> None:
    limited = Answers([(429, SIX_MINUTES, RATE_LIMITED), OK_ANSWER])
    first, second = two_requests(limited)
    assert first.last_failure is not None
    assert first.last_failure.retry_after == pytest.approx(360, abs=2)
    # The second request does not call the provider: it said six minutes.
    assert len(limited.paths) == 1
    assert second.image is None and second.last_failure is not None
    assert second.last_failure.retry_after == pytest.approx(360, abs=2)
    skipped = [a.message for a in second.attempts if a.outcome == "skipped"]
    said = re.search(r"cooling down for (\d+(?:\.\d+)?) s", skipped[0]) if skipped else None
    assert said is not None and float(said[1]) == pytest.approx(360, abs=2), skipped


def test_our_own_breaker_is_still_bounded() -> None:
    policy = CooldownPolicy(cooldown_seconds=900, max_cooldown_seconds=300)
    assert policy.cooldown_for(None) == 300
    assert policy.cooldown_for(360) == 360
    assert policy.cooldown_for(10**9) == 3600  # a misconfigured server is not believed for days
