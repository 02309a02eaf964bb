"""A provider call we stop waiting for is counted at its price once its request went out in full, and at nothing
before that.

An OpenAI-style provider that has the whole request and is still making the image when the provider's time limit
passes will finish, and bill, it all the same: the call once came back ``timeout`` at $0, uncounted by a capped key's
spend. A call that never went out (it waited for a free connection the whole time) cost nothing, and still does.
Against the fake OpenAI server on 127.0.0.1, whose 'slow' answer comes long after the limit.

Needs the transport to say when a request went out in full (``ON_REQUEST_SENT`` in ``sentinel.net.transport``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import Attempt, ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve

PRICE = 0.04
LIMIT_SECONDS = 0.5
AUTH = {"Authorization": "Bearer sk-test-slow-answers"}


@pytest.fixture
def slow_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Script]]:
    monkeypatch.setenv("FAKE_KEY", "sk-test-slow-answers")
    script = Script(default="slow", slow_seconds=3.0)
    with serve(create_app(script)) as server:
        yield f"{server.url}/v1", script


def routing(base: str) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "providers": {
                "slow": {
                    "kind": "openai",
                    "base_url": base,
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": LIMIT_SECONDS,
                }
            },
            "models": {"images": {"candidates": [{"target": "slow:dall-e-3"}], "cost_per_image": PRICE}},
            "default_model": "images",
            "max_passes": 2,
        }
    )


def walk(base: str, script: Script, *, connection_taken: bool = False) -> RouteResult:
    """One image's walk; ``connection_taken``: over a client of one connection, which another call to the provider
    holds for longer than the provider's time limit."""
    config = routing(base)

    async def go() -> RouteResult:
        limits = httpx.Limits(max_connections=1 if connection_taken else 4)
        async with provider_client(limits, httpx.Timeout(30)) as client:
            holder = None
            if connection_taken:
                held = client.post(f"{base}/images/generations", json={"prompt": "held"}, headers=AUTH)
                holder = asyncio.ensure_future(held)
                while not script.requests:
                    await asyncio.sleep(0.01)
            try:
                router = Router(config, build_providers(config, client), MemoryCooldowns(), Settings())
                return await router.generate(router.resolve("images"), ImageSpec(prompt="a lighthouse"))
            finally:
                if holder is not None:
                    holder.cancel()

    return asyncio.run(go())


def only_call(result: RouteResult) -> Attempt:
    assert result.image is None
    [call] = result.attempts
    assert call.outcome == "timeout"
    return call


def test_a_call_given_up_on_after_its_request_went_out_is_counted_at_its_price(slow_provider) -> None:
    base, script = slow_provider
    result = walk(base, script)

    call = only_call(result)
    assert call.cost == pytest.approx(PRICE)
    assert "may still make, and bill" in call.message
    # Bought once: a later pass of the walk does not send (and pay for) it again.
    assert len(script.requests) == 1


def test_a_call_that_never_went_out_costs_nothing(slow_provider) -> None:
    """The walk's call waits for the client's only connection, which another call holds, until the limit passes."""
    base, script = slow_provider
    call = only_call(walk(base, script, connection_taken=True))

    assert call.cost == 0.0
    assert "nothing was billed" in call.message
    assert len(script.requests) == 1  # the other call's: the walk's never reached the provider
