"""A provider that answers every call with the next of a list of raw HTTP answers (status, headers, body), for
answers no scripted fake gives: an empty image, a body nested 200000 deep, rate-limit headers of one's choosing.
Served on 127.0.0.1 like every fake; the router under test is the production one."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.server import png_image, serve

LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])
#: A whole image answer in OpenAI's documented shape.
OK_ANSWER = (200, {}, b'{"data": [{"b64_json": "' + base64.b64encode(png_image()) + b'"}]}')


@dataclass
class Answers:
    """The answers a provider gives, one per call, the last one for every call after; and the paths it was asked."""

    #: (status, headers, body); headers as pairs, so that one may be sent twice.
    script: list[tuple[int, dict[str, str] | list[tuple[str, str]], bytes]]
    paths: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            await request.body()
            self.paths.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            status, headers, body = self.script[min(len(self.paths), len(self.script)) - 1]
            response = Response(body, status_code=status, media_type="application/json")
            pairs = headers.items() if isinstance(headers, dict) else headers
            response.raw_headers.extend((name.encode(), value.encode()) for name, value in pairs)
            return response

        return Starlette(routes=[Route("/{path:path}", answer, methods=["POST", "GET"])])


@contextmanager
def providers(**answers: Answers) -> Iterator[dict[str, str]]:
    """Each named provider served on 127.0.0.1; yields its base URL by name."""
    with _served(list(answers.items())) as urls:
        yield urls


@contextmanager
def _served(items: list[tuple[str, Answers]]) -> Iterator[dict[str, str]]:
    if not items:
        yield {}
        return
    (name, answers), rest = items[0], items[1:]
    with serve(answers.app()) as server, _served(rest) as urls:
        yield {name: server.url, **urls}


def openai_routing(urls: dict[str, str], *, cost: float = 0.04, **top: Any) -> RoutingConfig:
    """One route ``images`` over the named OpenAI-style providers, in that order (each model behaving as DALL·E 3)."""
    return routing({name: ("openai", f"{url}/v1", "dall-e-3") for name, url in urls.items()}, cost=cost, **top)


def routing(candidates: dict[str, tuple[str, str, str]], *, cost: float = 0.04, **top: Any) -> RoutingConfig:
    """One route ``images`` over ``name → (kind, base_url, model)``, in that order, at ``cost`` per image."""
    providers_ = {
        name: {"kind": kind, "base_url": base_url, "api_key_env": "FAKE_KEY", "poll_interval_seconds": 0.05}
        for name, (kind, base_url, _) in candidates.items()
    }
    listed = [{"target": f"{name}:{model}"} for name, (_, _, model) in candidates.items()]
    route = {"candidates": listed, "cost_per_image": cost}
    return RoutingConfig.model_validate(
        {"providers": providers_, "models": {"images": route}, "default_model": "images", **top}
    )


def walk(config: RoutingConfig) -> RouteResult:
    """One request over the route ``images``, by the production router on a production client."""

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a red ball"))

    return asyncio.run(go())


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(attempt.provider, attempt.outcome) for attempt in result.attempts]
