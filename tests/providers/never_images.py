"""A provider on 127.0.0.1 whose answers are deterministic oddities of shape, each under its own path: the OpenAI
Images API (``/openai/{mode}/v1``) and Replicate's predictions (``/replicate/{mode}``, settled at once), plus the
files their URLs point at. It counts the generations each mode was asked for, which is what a provider bills."""

from __future__ import annotations

import asyncio
import base64
import collections
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.server import serve
from tests.conftest import png_bytes

#: An image whose base64 ends in padding (its length is no multiple of 3), so that leaving it out changes the text.
IMAGE = next(image for side in range(96, 128) if len(image := png_bytes(side, side)) % 3)
ENCODED = base64.b64encode(IMAGE).decode()
PAGE = b"<html><body>Your image is ready! <a href='/image.png'>download</a></body></html>"
#: How long the ``stall`` mode keeps a generation waiting: far past the candidate's timeout in these tests.
STALL_SECONDS = 5.0
SETTINGS = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])


class Fake(NamedTuple):
    url: str
    #: Generations asked for, by mode.
    calls: collections.Counter[str]


def _openai_answer(mode: str, base: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "b64prefix": {"b64_json": f"data:image/png;base64,{ENCODED}"},
        "b64nopad": {"b64_json": ENCODED.rstrip("=")},
        "b64bad": {"b64_json": "this is not base64!"},
        "b64page": {"b64_json": base64.b64encode(PAGE).decode()},
        "dataurl": {"url": f"data:image/png;base64,{ENCODED}"},
        "dataurlbad": {"url": "data:image/png;base64,%%%"},
        "urlpage": {"url": f"{base}/page.html"},
        "urljson": {"url": f"{base}/meta.json"},
        "ok": {"b64_json": ENCODED},
    }[mode]
    return {"created": 1, "data": [item]}


def _replicate_output(mode: str, base: str) -> Any:
    return {
        "outdict": {"image": f"{base}/image.png", "seed": 42},
        "outimages": {"images": [f"{base}/image.png"], "seed": 42},
        "outseed": {"seed": 42},
        "outjson": [f"{base}/meta.json"],
        "outpage": f"{base}/page.html",
    }[mode]


def create_app(calls: collections.Counter[str]) -> Starlette:
    async def openai(request: Request) -> Response:
        mode = request.path_params["mode"]
        calls[mode] += 1
        if mode == "stall":
            await asyncio.sleep(STALL_SECONDS)
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(_openai_answer(mode, base))

    async def replicate(request: Request) -> Response:
        mode = request.path_params["mode"]
        calls[mode] += 1
        base = f"{request.url.scheme}://{request.url.netloc}"
        urls = {"get": f"{base}/replicate/{mode}/v1/predictions/p1", "cancel": f"{base}/replicate/{mode}/cancel"}
        prediction = {"id": "p1", "status": "succeeded", "output": _replicate_output(mode, base), "urls": urls}
        return JSONResponse(prediction, status_code=201)

    async def image(request: Request) -> Response:
        return Response(IMAGE, media_type="image/png")

    async def page(request: Request) -> Response:
        return Response(PAGE, media_type="text/html")

    async def meta(request: Request) -> Response:
        return JSONResponse({"seed": 1, "nsfw": False})

    return Starlette(
        routes=[
            Route("/openai/{mode}/v1/images/generations", openai, methods=["POST"]),
            Route("/replicate/{mode}/v1/models/{owner}/{name}/predictions", replicate, methods=["POST"]),
            Route("/image.png", image),
            Route("/page.html", page),
            Route("/meta.json", meta),
        ]
    )


@contextmanager
def running() -> Iterator[Fake]:
    calls: collections.Counter[str] = collections.Counter()
    with serve(create_app(calls)) as server:
        yield Fake(server.url, calls)


@pytest.fixture(scope="module")
def fake() -> Iterator[Fake]:
    with running() as server:
        yield server


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEVER_IMAGES_KEY", "sk-never-images")


def target(kind: str, mode: str) -> str:
    """The candidate (provider:model) that asks ``mode`` of the fake in ``kind``'s wire contract."""
    return f"{kind}-{mode}:" + ("img-model" if kind == "openai" else "acme/flux")


def routing(fake: Fake, *targets: str, max_passes: int = 3, timeout: float = 10.0) -> RoutingConfig:
    """One model, ``m``, whose candidates are ``targets`` in order; every pass the route allows is available."""
    return RoutingConfig.model_validate(routes(fake, {"m": targets}, max_passes=max_passes, timeout=timeout))


def routes(
    fake: Fake, models: dict[str, tuple[str, ...]], max_passes: int = 3, timeout: float = 10.0
) -> dict[str, Any]:
    """A routing file's contents: each model's candidates in order, each provider the fake under its mode's path."""
    targets = [candidate for candidates in models.values() for candidate in candidates]
    providers = {}
    for candidate in targets:
        name = candidate.split(":")[0]
        kind, mode = name.split("-", 1)
        providers[name] = {
            "kind": kind,
            "base_url": f"{fake.url}/{kind}/{mode}" + ("/v1" if kind == "openai" else ""),
            "api_key_env": "NEVER_IMAGES_KEY",
            "timeout_seconds": timeout,
        }
    return {
        "providers": providers,
        "models": {name: {"candidates": [{"target": t} for t in candidates]} for name, candidates in models.items()},
        "default_model": next(iter(models)),
        "max_passes": max_passes,
    }


def generate(config: RoutingConfig) -> RouteResult:
    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), SETTINGS)
            return await router.generate(router.resolve("m"), ImageSpec(prompt="a red lighthouse"))

    return asyncio.run(go())


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(attempt.provider, attempt.outcome) for attempt in result.attempts]


def asked_once_as_the_providers_fault(fake: Fake, kind: str, mode: str) -> ProviderResult:
    """A lone candidate answering ``mode`` over three passes: one paid call, filed as the provider's fault (the
    gateway's 502 provider_error), not one call per pass. Its failure, for what it says."""
    before = fake.calls[mode]
    result = generate(routing(fake, target(kind, mode), max_passes=3))
    assert result.image is None
    assert outcomes(result) == [(f"{kind}-{mode}", "unrecognised_answer")]
    assert fake.calls[mode] - before == 1
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.UNRECOGNISED_ANSWER
    return result.last_failure
