"""The router's walk against fake providers on 127.0.0.1: Retry-After honoured across requests, final answers not
asked twice, retired models parked and skipped, deadlines and disconnected clients bounding the walk."""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import GenerationRequest, Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns, RedisCooldowns
from sentinel.providers.google import GoogleProvider
from sentinel.providers.registry import build_providers
from sentinel.providers.router import Disconnected, ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes import google as fake_google
from sentinel_fakes import openai as fake_openai
from sentinel_fakes.server import Script, serve
from tests.conftest import REDIS_URL

LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])


@pytest.fixture
def fakes(monkeypatch) -> Iterator[dict[str, Any]]:
    """Two fake OpenAI-style providers, ``alpha`` and ``beta``: their scripts and URLs."""
    scripts = {"alpha": Script(), "beta": Script()}
    with serve(fake_openai.create_app(scripts["alpha"])) as alpha, serve(fake_openai.create_app(scripts["beta"])) as b:
        monkeypatch.setenv("FAKE_KEY", "sk-test")
        yield {"scripts": scripts, "urls": {"alpha": alpha.url, "beta": b.url}}


def routing(fakes: dict[str, Any], names: tuple[str, ...] = ("alpha", "beta"), **route: Any) -> RoutingConfig:
    max_passes = route.pop("max_passes", 2)
    breaker = route.pop("circuit_breaker", None)
    providers: dict[str, Any] = {
        name: {
            "kind": "openai",
            "base_url": f"{fakes['urls'][name]}/v1",
            "api_key_env": "FAKE_KEY",
            "timeout_seconds": 2,
        }
        for name in names
    }
    if breaker:
        for config in providers.values():
            config["circuit_breaker"] = breaker
    candidates = route.pop("candidates", [{"target": f"{name}:dall-e-3"} for name in names])
    return RoutingConfig.model_validate(
        {
            "providers": providers,
            "models": {"images": {"candidates": candidates, **route}},
            "default_model": "images",
            "max_passes": max_passes,
        }
    )


async def _generate(
    router: Router, deadline_in: float | None = None, disconnected: Disconnected | None = None
) -> RouteResult:
    deadline = None if deadline_in is None else asyncio.get_running_loop().time() + deadline_in
    spec = ImageSpec(prompt="a lighthouse")
    return await router.generate(router.resolve("images"), spec, deadline=deadline, disconnected=disconnected)


def run(
    config: RoutingConfig,
    cooldowns: Any = None,
    requests: int = 1,
    settings: Settings = LOOPBACK,
    deadline_in: float | None = None,
    disconnected: Disconnected | None = None,
) -> list[RouteResult]:
    """``requests`` requests, one after the other, through one router (as one API process serves them)."""

    async def go() -> list[RouteResult]:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), cooldowns or MemoryCooldowns(), settings)
            return [await _generate(router, deadline_in, disconnected) for _ in range(requests)]

    return asyncio.run(go())


def calls(script: Script) -> int:
    return len(script.requests)


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in result.attempts]


# -- Retry-After ---------------------------------------------------------------------------------------------------


def test_a_provider_asking_to_wait_is_not_called_again_before_its_retry_after(fakes) -> None:
    # The issue: "a provider answering 429 Retry-After: 30 is called again 0.1 s later; five client requests made
    # 10 provider calls".
    alpha = fakes["scripts"]["alpha"]
    alpha.retry_after = 30
    alpha.default = "rate_limit"
    results = run(routing(fakes, names=("alpha",)), requests=5)
    assert calls(alpha) == 1
    for result in results:
        assert result.image is None
        assert result.last_failure is not None
        assert result.last_failure.outcome is Outcome.RATE_LIMITED
        # The caller is told the earliest moment a candidate is free again.
        assert 25 < (result.last_failure.retry_after or 0) <= 30
    assert outcomes(results[1]) == [("alpha", "skipped")]
    assert "Retry-After" in results[1].attempts[0].message


def test_with_every_candidate_waiting_the_earliest_retry_after_is_answered_and_nobody_is_called(fakes) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.retry_after, beta.retry_after = 40, 20
    alpha.default = beta.default = "rate_limit"
    first, second = run(routing(fakes), requests=2)
    assert (calls(alpha), calls(beta)) == (1, 1)
    assert [o for _, o in outcomes(first)] == ["rate_limited", "rate_limited"]
    assert 15 < (first.last_failure.retry_after or 0) <= 20
    assert [o for _, o in outcomes(second)] == ["skipped", "skipped"]
    assert second.last_failure is not None and second.last_failure.outcome is Outcome.RATE_LIMITED
    assert 15 < (second.last_failure.retry_after or 0) <= 20


def test_a_short_retry_after_is_waited_out_rather_than_answered_as_429(fakes) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.retry_after = 1
    alpha.push("rate_limit")
    started = time.monotonic()
    [result] = run(routing(fakes, names=("alpha",)))
    assert outcomes(result) == [("alpha", "rate_limited"), ("alpha", "ok")]
    # Called again only once its Retry-After had passed.
    assert time.monotonic() - started >= 0.95


def test_a_breaker_opened_without_retry_after_is_still_probed_when_nothing_else_is_left(fakes) -> None:
    # Only the provider's own word is binding; a breaker we opened ourselves is probed rather than failing.
    alpha = fakes["scripts"]["alpha"]
    alpha.push("unavailable", "unavailable")
    config = routing(fakes, names=("alpha",), circuit_breaker={"failure_threshold": 2, "cooldown_seconds": 60})
    cooldowns = MemoryCooldowns()
    [opened] = run(config, cooldowns)
    assert [o for _, o in outcomes(opened)] == ["unavailable", "unavailable"]
    [probed] = run(config, cooldowns)
    assert [o for _, o in outcomes(probed)] == ["skipped", "ok"]


def test_circuit_breaker_threshold_is_read_per_provider_from_the_routing_file(fakes) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.default = "unavailable"
    config = routing(fakes, max_passes=1, circuit_breaker={"failure_threshold": 1, "cooldown_seconds": 60})
    cooldowns = MemoryCooldowns()
    first, second = run(config, cooldowns, requests=2)
    assert outcomes(first) == [("alpha", "unavailable"), ("beta", "ok")]
    # One failure opened alpha's breaker (the default needs three).
    assert outcomes(second) == [("alpha", "skipped"), ("beta", "ok")]
    assert calls(alpha) == 1


# -- final answers are not asked twice ------------------------------------------------------------------------------


def test_content_policy_refusals_are_not_repeated_by_a_later_pass(fakes) -> None:
    # The issue: "max_passes repeats content-policy refusals: 4 calls where 2 decide it".
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = beta.default = "content_filter"
    [result] = run(routing(fakes, fallback_on_content_filter=True))
    assert outcomes(result) == [("alpha", "content_filtered"), ("beta", "content_filtered")]
    assert (calls(alpha), calls(beta)) == (1, 1)


def test_address_check_refusals_are_not_repeated_by_a_later_pass(fakes) -> None:
    # Both providers hand back an output URL on a private address that is not their own host, which the default
    # fetcher refuses to download (one on their own host and port is fetched: the operator configured it).
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = beta.default = "private_url"
    [result] = run(routing(fakes), settings=Settings())
    # Delivered (and paid for) and refused by our own checks: not "unavailable", and the set-up's to change.
    assert [o for _, o in outcomes(result)] == ["output_refused", "output_refused"]
    assert result.unchanging
    assert all(a.status_code == 200 for a in result.attempts)
    assert (calls(alpha), calls(beta)) == (1, 1)


def test_a_later_pass_asks_only_the_candidates_whose_answer_could_change(fakes) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = "content_filter"
    beta.push("unavailable")
    [result] = run(routing(fakes, fallback_on_content_filter=True))
    assert outcomes(result) == [("alpha", "content_filtered"), ("beta", "unavailable"), ("beta", "ok")]
    assert calls(alpha) == 1


# -- retired models ------------------------------------------------------------------------------------------------


def test_a_retired_model_falls_back_and_is_parked_until_the_routing_changes(fakes) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.missing_models = {"dall-e-3"}
    config = routing(fakes)
    cooldowns = MemoryCooldowns()
    first, second = run(config, cooldowns, requests=2)
    assert outcomes(first) == [("alpha", "model_not_found"), ("beta", "ok")]
    assert "does not exist" in first.attempts[0].message
    assert outcomes(second) == [("alpha", "skipped"), ("beta", "ok")]
    assert second.attempts[0].message.startswith("parked: model not found")
    assert calls(alpha) == 1

    async def parked(config: RoutingConfig) -> dict[str, str]:
        return await Router(config, {}, cooldowns, LOOPBACK).parked()

    assert list(asyncio.run(parked(config))) == ["alpha:dall-e-3"]
    # An edited routing file (here: another route description) starts with nothing parked.
    changed = routing(fakes, description="edited")
    assert asyncio.run(parked(changed)) == {}
    [third] = run(changed, cooldowns)
    assert outcomes(third) == [("alpha", "model_not_found"), ("beta", "ok")]


def test_every_candidate_retired_ends_as_model_not_found(fakes) -> None:
    for script in fakes["scripts"].values():
        script.missing_models = {"dall-e-3"}
    cooldowns = MemoryCooldowns()
    first, second = run(routing(fakes), cooldowns, requests=2)
    assert [o for _, o in outcomes(first)] == ["model_not_found", "model_not_found"]
    assert [o for _, o in outcomes(second)] == ["skipped", "skipped"]
    for result in (first, second):
        assert result.last_failure is not None and result.last_failure.outcome is Outcome.MODEL_NOT_FOUND


def test_parked_candidates_are_shared_through_redis(fakes) -> None:
    fakes["scripts"]["alpha"].missing_models = {"dall-e-3"}
    namespace = f"sentinel-test-{uuid.uuid4().hex[:8]}:providers"
    config = routing(fakes)

    async def scenario() -> tuple[RouteResult, RouteResult, dict[str, str]]:
        first_store, second_store = RedisCooldowns(REDIS_URL, namespace), RedisCooldowns(REDIS_URL, namespace)
        try:
            async with httpx.AsyncClient() as client:
                first = Router(config, build_providers(config, client), first_store, LOOPBACK)
                second = Router(config, build_providers(config, client), second_store, LOOPBACK)
                a = await _generate(first)
                b = await _generate(second)
                parked = await second.parked()
        finally:
            keys = [k async for k in first_store.redis.scan_iter(f"{namespace}*")]
            if keys:
                await first_store.redis.delete(*keys)
            await first_store.close()
            await second_store.close()
        return a, b, parked

    first, second, parked = asyncio.run(scenario())
    assert outcomes(first) == [("alpha", "model_not_found"), ("beta", "ok")]
    assert outcomes(second) == [("alpha", "skipped"), ("beta", "ok")]
    assert "does not exist" in parked["alpha:dall-e-3"]


def _adapter_result(provider_class: type, fake_module: Any, model: str) -> Any:
    script = Script(missing_models={model})
    with serve(fake_module.create_app(script)) as fake:

        async def call() -> Any:
            async with httpx.AsyncClient() as client:
                adapter = provider_class(fake.url, "key", client, timeout=5)
                return await adapter.generate(GenerationRequest(prompt="a red bicycle", model=model))

        return asyncio.run(call())


def test_google_answering_a_shut_down_model_is_model_not_found() -> None:
    result = _adapter_result(GoogleProvider, fake_google, "imagen-4.0-generate-001")
    assert result.outcome is Outcome.MODEL_NOT_FOUND
    assert "models/imagen-4.0-generate-001 is not found" in result.message


# -- deadlines and disconnected clients ----------------------------------------------------------------------------


def test_a_request_deadline_bounds_every_pass_and_candidate(fakes) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = beta.default = "slow"
    alpha.slow_seconds = beta.slow_seconds = 30
    # Without a deadline: 2 passes x 2 candidates x 2 s. With 1 s, alpha's call is cut at the deadline and nothing
    # else is called.
    [result] = run(routing(fakes), deadline_in=1.0)
    assert [o for _, o in outcomes(result)] == ["timeout"]
    assert "deadline" in result.attempts[0].message
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.TIMEOUT
    assert "deadline" in result.last_failure.message
    assert calls(beta) == 0


def test_a_route_deadline_from_the_routing_file_bounds_the_walk(fakes) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = "slow"
    alpha.slow_seconds = 30
    [result] = run(routing(fakes, deadline_seconds=1.0))
    assert [o for _, o in outcomes(result)] == ["timeout"]
    assert calls(beta) == 0
    # The request's own deadline cannot lengthen the route's.
    [result] = run(routing(fakes, deadline_seconds=1.0), deadline_in=60)
    assert [o for _, o in outcomes(result)] == ["timeout"]
    assert calls(beta) == 0


def test_a_disconnected_client_causes_no_further_provider_call(fakes) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.default = "unavailable"
    asked: list[int] = []

    async def gone_after_the_first_call() -> bool:
        asked.append(calls(alpha) + calls(beta))
        return calls(alpha) + calls(beta) >= 1

    [result] = run(routing(fakes), disconnected=gone_after_the_first_call)
    assert outcomes(result) == [("alpha", "unavailable")]
    assert calls(beta) == 0
    assert result.last_failure is not None and "disconnected" in result.last_failure.message


def test_a_walk_asks_whether_its_client_is_gone_before_each_call_but_its_first(fakes) -> None:
    # Asking is a pass of the event loop on every request; the client was there when its request was just read.
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    asked: list[int] = []

    async def still_there() -> bool:
        asked.append(calls(alpha) + calls(beta))
        return False

    [result] = run(routing(fakes), disconnected=still_there)
    assert outcomes(result) == [("alpha", "ok")]
    assert asked == []
    # A failed call is asked about (a call dropped for a gone client does not count toward the provider's breaker),
    # and so is a fallback: the first call took its time, and the client may have left meanwhile.
    alpha.default = "unavailable"
    [result] = run(routing(fakes), disconnected=still_there)
    assert outcomes(result) == [("alpha", "unavailable"), ("beta", "ok")]
    assert asked == [2, 2]


def test_a_client_gone_during_the_pause_between_passes_causes_no_further_call(fakes) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.default = "unavailable"

    async def gone() -> bool:
        return True

    [result] = run(routing(fakes, names=("alpha",)), disconnected=gone)
    assert outcomes(result) == [("alpha", "unavailable")]
    assert calls(alpha) == 1
    assert result.last_failure is not None and "disconnected" in result.last_failure.message


# -- weights ------------------------------------------------------------------------------------------------------


def test_weights_split_first_choice_across_candidates_of_one_rank(fakes) -> None:
    candidates = [{"target": "alpha:dall-e-3", "weight": 3}, {"target": "beta:dall-e-3", "weight": 1}]
    config = routing(fakes, candidates=candidates)
    router = Router(config, {}, MemoryCooldowns(), LOOPBACK)
    firsts = [router.order(config.models["images"])[0].provider for _ in range(4000)]
    share = firsts.count("alpha") / len(firsts)
    assert 0.70 < share < 0.80
    # Every candidate of the rank stays in the order as a fallback.
    assert {c.provider for c in router.order(config.models["images"])} == {"alpha", "beta"}


def test_unweighted_candidates_keep_their_order(fakes) -> None:
    config = routing(fakes)
    router = Router(config, {}, MemoryCooldowns(), LOOPBACK)
    assert all([c.provider for c in router.order(config.models["images"])] == ["alpha", "beta"] for _ in range(50))


def test_an_open_breaker_is_probed_by_one_request_at_a_time(fakes) -> None:
    # Outside probe P2-F22: with every request probing the only candidate's open breaker, 50 concurrent requests made
    # 50 calls to the failing provider. Half-open: one probe in flight; the others answer at once, saying when.
    alpha = fakes["scripts"]["alpha"]
    alpha.push("unavailable")
    alpha.default, alpha.slow_seconds = "slow", 0.5
    config = routing(
        fakes, names=("alpha",), max_passes=1, circuit_breaker={"failure_threshold": 1, "cooldown_seconds": 60}
    )

    async def go() -> tuple[RouteResult, list[RouteResult]]:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            opened = await _generate(router)
            burst = await asyncio.gather(*(_generate(router) for _ in range(5)))
            return opened, list(burst)

    opened, burst = asyncio.run(go())
    assert outcomes(opened) == [("alpha", "unavailable")]
    served = [r for r in burst if r.image is not None]
    assert len(served) == 1
    assert calls(alpha) == 2  # the failure that opened the breaker, and one probe
    for result in burst:
        if result.image is None:
            assert result.last_failure is not None and result.last_failure.outcome is Outcome.UNAVAILABLE
            assert "another request is probing it" in result.last_failure.message
            assert result.last_failure.retry_after and result.last_failure.retry_after > 0
            assert result.calls == 0
