"""The router against fake OpenAI-style providers on 127.0.0.1: aliases, fallback, cooldowns, output checks."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sentinel.errors import InvalidInput
from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig, load_routing
from sentinel.providers.cooldown import CooldownPolicy, MemoryCooldowns, RedisCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, ParkedModel, Router, UnknownModel
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import REDIS_URL

SETTINGS = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])


@pytest.fixture
def fakes(monkeypatch) -> Iterator[dict[str, Script]]:
    scripts = {name: Script() for name in ("alpha", "beta")}
    with serve(create_app(scripts["alpha"])) as alpha, serve(create_app(scripts["beta"])) as beta:
        monkeypatch.setenv("FAKE_KEY", "sk-test")
        scripts["alpha"].url = alpha.url  # type: ignore[attr-defined]
        scripts["beta"].url = beta.url  # type: ignore[attr-defined]
        yield scripts


def config(fakes: dict[str, Script], **route: Any) -> RoutingConfig:
    sizes = route.pop("alpha_sizes", None)
    alpha: dict[str, Any] = {"target": "alpha:dall-e-3"}
    if sizes:
        alpha["sizes"] = sizes
    return RoutingConfig.model_validate(
        {
            "providers": {
                name: {
                    "kind": "openai",
                    "base_url": f"{script.url}/v1",
                    "api_key_env": "FAKE_KEY",  # type: ignore[attr-defined]
                    "timeout_seconds": 5.0,  # generous: a loaded machine must not turn an answer into a timeout
                }
                for name, script in fakes.items()
            },
            "models": {"gpt-image-1": {"candidates": [alpha, {"target": "beta:dall-e-3"}], **route}},
            "default_model": "gpt-image-1",
            "aliases": {"dall-e-3": "gpt-image-1"},
            "parked": {"dall-e-2": "retired; use gpt-image-1"},
        }
    )


def run(routing: RoutingConfig, model: str = "dall-e-3", cooldowns: Any = None, size: int = 1024):
    async def go():
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(routing, build_providers(routing, client), cooldowns or MemoryCooldowns(), SETTINGS)
            resolved = router.resolve(model)
            return await router.generate(resolved, ImageSpec(prompt="a lighthouse", width=size, height=size))

    return asyncio.run(go())


def outcomes(result) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in result.attempts]


def test_alias_resolves_and_unknown_or_parked_models_are_refused(fakes) -> None:
    routing = config(fakes)
    router = Router(routing, {}, MemoryCooldowns(), SETTINGS)
    resolved = router.resolve("dall-e-3")
    assert (resolved.requested, resolved.model, resolved.alias_of) == ("dall-e-3", "gpt-image-1", "gpt-image-1")
    with pytest.raises(UnknownModel, match="model 'dall-e-9' does not exist"):
        router.resolve("dall-e-9")
    with pytest.raises(ParkedModel, match="retired; use gpt-image-1"):
        router.resolve("dall-e-2")
    with pytest.raises(InvalidInput, match="size '640x480' is not supported"):
        router.check_size(resolved, "640x480")
    assert router.resolve(None).model == "gpt-image-1"


def test_shipped_routing_file_is_valid() -> None:
    routing = load_routing()
    assert routing.aliases["dall-e-3"] in routing.models
    assert "dall-e-2" in routing.parked


@pytest.mark.parametrize("failure", ["rate_limit", "unavailable", "empty", "blank"])
def test_falls_back_in_order_when_the_first_provider_fails(fakes, failure) -> None:
    fakes["alpha"].push(failure)
    result = run(config(fakes, fallback_on_content_filter=True))
    assert result.image is not None
    assert result.image.provider == "beta"
    assert outcomes(result)[-1] == ("beta", "ok")
    assert outcomes(result)[0][0] == "alpha" and outcomes(result)[0][1] != "ok"


def test_slow_provider_times_out_and_falls_back(fakes) -> None:
    fakes["alpha"].slow_seconds = 20
    fakes["alpha"].push("slow")
    result = run(config(fakes))
    assert outcomes(result) == [("alpha", "timeout"), ("beta", "ok")]


def test_no_fallback_on_invalid_request(fakes) -> None:
    # A size the provider refuses is our fault or the caller's: trying elsewhere would hide it.
    result = run(config(fakes, alpha_sizes={"1024x1024": "999x1"}))
    assert result.image is None
    assert outcomes(result) == [("alpha", "invalid_request")]
    assert "size" in result.last_failure.message
    assert fakes["beta"].requests == []


def test_a_rejected_key_falls_back_to_the_next_candidate(fakes) -> None:
    # The operator's key is wrong (revoked, expired): that provider is as good as away, and the next one serves.
    fakes["alpha"].push("bad_auth")
    result = run(config(fakes))
    assert outcomes(result) == [("alpha", "auth"), ("beta", "ok")]
    assert result.image is not None


def test_a_rejected_key_on_the_only_candidate_says_so(fakes) -> None:
    fakes["alpha"].default = "bad_auth"
    fakes["beta"].default = "bad_auth"
    result = run(config(fakes))
    assert result.image is None
    assert outcomes(result) == [("alpha", "auth"), ("beta", "auth")]
    assert "401" in result.last_failure.message


def test_content_filter_falls_back_only_where_the_route_allows(fakes) -> None:
    fakes["alpha"].push("content_filter")
    strict = run(config(fakes, fallback_on_content_filter=False))
    assert outcomes(strict) == [("alpha", "content_filtered")]
    fakes["alpha"].push("content_filter")
    lenient = run(config(fakes, fallback_on_content_filter=True))
    assert outcomes(lenient) == [("alpha", "content_filtered"), ("beta", "ok")]


def test_url_output_served_as_octet_stream_is_sniffed_and_stored_as_png(fakes) -> None:
    fakes["alpha"].push("octet_url")
    result = run(config(fakes))
    assert result.image is not None and result.image.provider == "alpha"
    assert result.image.info.mime == "image/png"


def test_drifted_shape_is_still_an_image(fakes) -> None:
    fakes["alpha"].push("drift")
    result = run(config(fakes))
    assert outcomes(result) == [("alpha", "ok")]


def test_transient_failures_everywhere_are_retried_on_a_second_walk(fakes) -> None:
    fakes["alpha"].push("unavailable", "unavailable")
    fakes["beta"].push("unavailable")
    result = run(config(fakes))
    assert [o for _, o in outcomes(result)] == ["unavailable", "unavailable", "unavailable", "ok"]


def test_cooldown_skips_a_provider_and_it_recovers(monkeypatch) -> None:
    now = [1000.0]
    cooldowns = MemoryCooldowns(CooldownPolicy(failure_threshold=3), clock=lambda: now[0])
    scripts = {name: Script() for name in ("alpha", "beta")}
    with serve(create_app(scripts["alpha"])) as alpha, serve(create_app(scripts["beta"])) as beta:
        scripts["alpha"].url, scripts["beta"].url = alpha.url, beta.url  # type: ignore[attr-defined]
        monkeypatch.setenv("FAKE_KEY", "sk-test")
        routing = config(scripts)
        scripts["alpha"].push("rate_limit")  # Retry-After: 1
        first = run(routing, cooldowns=cooldowns)
        assert outcomes(first) == [("alpha", "rate_limited"), ("beta", "ok")]
        second = run(routing, cooldowns=cooldowns)
        assert outcomes(second) == [("alpha", "skipped"), ("beta", "ok")]
        assert "cooling down for 1 s" in second.attempts[0].message
        now[0] += 1.5
        third = run(routing, cooldowns=cooldowns)
        assert outcomes(third) == [("alpha", "ok")]
        # Three failures in a row without Retry-After open the breaker too.
        scripts["alpha"].push("unavailable", "unavailable", "unavailable")
        for _ in range(3):
            run(routing, cooldowns=cooldowns)
        assert outcomes(run(routing, cooldowns=cooldowns))[0] == ("alpha", "skipped")


def test_cooldown_is_shared_between_two_routers_through_redis(fakes) -> None:
    namespace = f"sentinel-test-{uuid.uuid4().hex[:8]}:providers"
    routing = config(fakes)

    async def scenario() -> tuple[list, list]:
        first_store = RedisCooldowns(REDIS_URL, namespace)
        second_store = RedisCooldowns(REDIS_URL, namespace)
        async with httpx.AsyncClient() as client:
            first = Router(routing, build_providers(routing, client), first_store, SETTINGS)
            second = Router(routing, build_providers(routing, client), second_store, SETTINGS)
            fakes["alpha"].push("rate_limit")
            spec = ImageSpec(prompt="x")
            a = await first.generate(first.resolve("dall-e-3"), spec)
            b = await second.generate(second.resolve("dall-e-3"), spec)
        keys = [k async for k in first_store.redis.scan_iter(f"{namespace}*")]
        if keys:
            await first_store.redis.delete(*keys)
        await first_store.close()
        await second_store.close()
        return outcomes(a), outcomes(b)

    first, second = asyncio.run(scenario())
    assert first == [("alpha", "rate_limited"), ("beta", "ok")]
    assert second == [("alpha", "skipped"), ("beta", "ok")]


def test_unconfigured_provider_is_skipped_with_the_reason(fakes, monkeypatch) -> None:
    routing = config(fakes)
    routing.providers["alpha"].api_key_env = "MISSING_KEY_FOR_TEST"
    result = run(routing)
    assert outcomes(result) == [("alpha", "skipped"), ("beta", "ok")]
    assert result.attempts[0].message == "MISSING_KEY_FOR_TEST is not set"


def test_task_preference_applies_only_when_the_model_is_configured(fakes, monkeypatch) -> None:
    routing = config(fakes)
    routing.models["house"] = routing.models["gpt-image-1"].model_copy(deep=True)
    routing.default_model = "house"
    router = Router(routing, build_providers(routing, httpx.AsyncClient()), MemoryCooldowns(), SETTINGS)
    assert router.resolve(None, "text-render", preferred="gpt-image-1").model == "gpt-image-1"
    assert router.resolve(None, "text-render", preferred="dall-e-3").model == "gpt-image-1"
    assert router.resolve(None, "text-render", preferred="unknown-model").model == "house"
    assert router.resolve("house", "text-render", preferred="gpt-image-1").model == "house"
    routing.providers["alpha"].api_key_env = routing.providers["beta"].api_key_env = "NOT_SET_ANYWHERE"
    unconfigured = Router(routing, build_providers(routing, httpx.AsyncClient()), MemoryCooldowns(), SETTINGS)
    assert unconfigured.resolve(None, "text-render", preferred="gpt-image-1").model == "house"


def test_regeneration_starts_at_the_next_candidate_where_the_route_rotates(fakes) -> None:
    rotating = config(fakes, rotate_on_regenerate=True)

    async def go(routing: RoutingConfig, regeneration: int):
        async with httpx.AsyncClient() as client:
            router = Router(routing, build_providers(routing, client), MemoryCooldowns(), SETTINGS)
            return await router.generate(router.resolve("dall-e-3"), ImageSpec(prompt="x"), regeneration)

    assert outcomes(asyncio.run(go(rotating, 0))) == [("alpha", "ok")]
    assert outcomes(asyncio.run(go(rotating, 1))) == [("beta", "ok")]
    assert outcomes(asyncio.run(go(rotating, 2))) == [("alpha", "ok")]
    assert outcomes(asyncio.run(go(config(fakes), 1))) == [("alpha", "ok")]
