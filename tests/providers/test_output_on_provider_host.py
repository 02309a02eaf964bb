"""A provider's image URL on the very host and port of its configured ``base_url`` is fetched, even on a private
address (outside probe F11): a company gateway inside the VPC answering `url` was refused its own images after it
was paid. Sentinel already sends that host its requests and key, so its outputs there reach nothing new. Any other
private host (another port, another name) is still refused, and the refusal names SENTINEL_FETCH_ALLOWED_NETWORKS."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.server import png_image
from tests.providers.scripted_answers import Answers, openai_routing, providers


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")
    monkeypatch.delenv("SENTINEL_FETCH_ALLOWED_NETWORKS", raising=False)


def walk_with_default_settings(config: RoutingConfig) -> RouteResult:
    """The production router with the shipped fetch settings: no private network allowed."""
    settings = Settings()
    assert not settings.fetch_allowed_networks

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), settings)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a red ball"))

    return asyncio.run(go())


def run(url_of: str) -> tuple[RouteResult, Answers]:
    gateway = Answers([(200, {}, b""), (200, {"content-type": "image/png"}, png_image())])
    with providers(gateway=gateway) as urls:
        base = urls["gateway"]
        output = url_of.format(base=base, port=base.rsplit(":", 1)[1])
        gateway.script[0] = (200, {}, orjson.dumps({"data": [{"url": output}]}))
        result = walk_with_default_settings(openai_routing(urls))
    return result, gateway


def test_an_output_on_the_providers_own_host_and_port_is_delivered() -> None:
    result, gateway = run("{base}/files/img-1.png")
    assert result.image is not None, result.attempts
    assert gateway.paths == ["/v1/images/generations", "/files/img-1.png"]


@pytest.mark.parametrize(
    "elsewhere",
    [
        # Another port of the same machine: a database, an admin console.
        "http://127.0.0.1:9/files/img-1.png",
        # Another name for a private address than the one configured.
        "http://localhost:{port}/files/img-1.png",
    ],
)
def test_an_output_on_another_private_host_is_refused_naming_the_setting(elsewhere: str) -> None:
    result, gateway = run(elsewhere)
    assert result.image is None
    assert gateway.paths == ["/v1/images/generations"]  # never fetched
    message = result.attempts[0].message
    assert "only public addresses may be fetched" in message
    assert "SENTINEL_FETCH_ALLOWED_NETWORKS" in message, message
