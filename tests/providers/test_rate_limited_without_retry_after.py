"""A 429 that says not how long to wait (no Retry-After, a date already past, junk) is still "not now": the same
request does not ask that candidate again at once, and the caller's 429 says when to come back (outside probe F22)."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])


@dataclass
class SaysNotHowLong(Script):
    """The OpenAI fake, whose 429 carries ``said`` as its Retry-After (left out when empty)."""

    said: str = ""

    def retry_after_headers(self) -> dict[str, str]:
        return {"retry-after": self.said} if self.said else {}


def an_hour_ago() -> str:
    return format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)


#: What a provider's 429 said as its Retry-After: nothing, a date in the past, a date that is no date.
UNUSABLE = {"none": lambda: "", "past": an_hour_ago, "junk": lambda: "Wed, 99 Foo 2026 99:99:99 GMT"}


@pytest.fixture
def fakes(monkeypatch) -> Iterator[dict[str, Any]]:
    scripts = {"alpha": SaysNotHowLong(), "beta": SaysNotHowLong()}
    with serve(create_app(scripts["alpha"])) as alpha, serve(create_app(scripts["beta"])) as beta:
        monkeypatch.setenv("FAKE_KEY", "sk-test")
        yield {"scripts": scripts, "urls": {"alpha": alpha.url, "beta": beta.url}}


def routing(fakes: dict[str, Any], names: tuple[str, ...], **top: Any) -> RoutingConfig:
    providers = {
        name: {"kind": "openai", "base_url": f"{fakes['urls'][name]}/v1", "api_key_env": "FAKE_KEY"} for name in names
    }
    candidates = [{"target": f"{name}:dall-e-3"} for name in names]
    return RoutingConfig.model_validate(
        {"providers": providers, "models": {"images": {"candidates": candidates}}, "default_model": "images", **top}
    )


def run(config: RoutingConfig) -> RouteResult:
    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a lighthouse"))

    return asyncio.run(go())


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in result.attempts]


@pytest.mark.parametrize("said", sorted(UNUSABLE))
def test_a_later_pass_does_not_ask_again_at_once_a_candidate_that_answered_429(fakes, said) -> None:
    alpha, beta = fakes["scripts"]["alpha"], fakes["scripts"]["beta"]
    alpha.said, alpha.default = UNUSABLE[said](), "rate_limit"
    beta.default = "unavailable"
    result = run(routing(fakes, ("alpha", "beta")))
    # The second pass asks beta (an outage may pass in a moment), not alpha, which has just said "too many requests".
    assert outcomes(result) == [
        ("alpha", "rate_limited"),
        ("beta", "unavailable"),
        ("alpha", "skipped"),
        ("beta", "unavailable"),
    ]
    assert "429" in result.attempts[2].message
    assert len(alpha.requests) == 1
    # The caller is told when to come back.
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.RATE_LIMITED
    assert 0 < (result.last_failure.retry_after or 0) <= 1


@pytest.mark.parametrize("said", sorted(UNUSABLE))
def test_a_lone_candidate_answering_429_gives_a_429_with_a_wait(fakes, said) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.said, alpha.default = UNUSABLE[said](), "rate_limit"
    result = run(routing(fakes, ("alpha",), max_retry_wait_seconds=0))
    assert outcomes(result) == [("alpha", "rate_limited")]
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.RATE_LIMITED
    assert 0 < (result.last_failure.retry_after or 0) <= 1


def test_a_lone_candidate_is_asked_again_only_after_a_short_wait(fakes) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.said = "Wed, 99 Foo 2026 99:99:99 GMT"
    alpha.push("rate_limit")
    started = time.monotonic()
    result = run(routing(fakes, ("alpha",)))
    assert outcomes(result) == [("alpha", "rate_limited"), ("alpha", "ok")]
    # Not 0.1 s later, as after an outage: a second for the provider's rate window to move.
    assert time.monotonic() - started >= 0.95


def test_the_clients_429_carries_a_retry_after(fakes, tmp_path: Path) -> None:
    alpha = fakes["scripts"]["alpha"]
    alpha.said, alpha.default = an_hour_ago(), "rate_limit"
    routes = routing(fakes, ("alpha",), max_retry_wait_seconds=0).model_dump(mode="json", exclude_unset=True)
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(tmp_path / "routes.yaml"))
    server, base = start_server(env | {"FAKE_KEY": "sk-test"}, tmp_path / "serve.log")
    try:
        body = {"model": "images", "prompt": "a lighthouse", "response_format": "b64_json"}
        answer = httpx.post(f"{base}/v1/images/generations", json=body, timeout=30)
    finally:
        server.stop()
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["x-sentinel-attempts"] == "1"
    assert len(alpha.requests) == 1
