"""A 404 or 410 page from something in front of a provider (a load balancer while the upstream restarts, a proxy
mid-deploy) says nothing about the model: every adapter files it as the provider being away (fallback, cool-down,
tried again later), never as a retired model, which parks the candidate until the routing file changes. The
provider's API saying 404 in its own JSON still parks it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sentinel.providers.base import HttpProvider, Outcome
from sentinel.providers.fal import FalProvider
from sentinel.providers.google import GoogleProvider
from sentinel.providers.openai import OpenAIProvider
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.stability import StabilityProvider
from sentinel_fakes.server import serve
from tests.providers.harness import AdapterRunner

ADAPTERS: dict[str, tuple[Callable[[str, httpx.AsyncClient, float], HttpProvider], str]] = {
    "openai": (lambda base, client, timeout: OpenAIProvider(f"{base}/v1", "sk-test", client, timeout=timeout), "m"),
    "google": (lambda base, client, timeout: GoogleProvider(base, "g-test", client, timeout=timeout), "imagen-4"),
    "stability": (lambda base, client, timeout: StabilityProvider(base, "sk-test", client, timeout=timeout), "core"),
    "replicate": (
        lambda base, client, timeout: ReplicateProvider(base, "r8-test", client, timeout=timeout, poll_interval=0.02),
        "owner/model",
    ),
    "fal": (
        lambda base, client, timeout: FalProvider(base, "fal-test", client, timeout=timeout, poll_interval=0.02),
        "fal-ai/model",
    ),
}


def answering(status: int, page: bool) -> Starlette:
    async def everything(request: Request) -> Response:
        if page:
            return HTMLResponse("<html><body><h1>404 Not Found</h1><hr>nginx</body></html>", status_code=status)
        error = {"message": "The model 'm' does not exist", "type": "invalid_request_error", "code": None}
        return JSONResponse({"error": error, "detail": "not found"}, status_code=status)

    return Starlette(routes=[Route("/{path:path}", everything, methods=["GET", "POST", "PUT"])])


@pytest.fixture(params=[(404, True), (410, True), (404, False)], ids=["404-page", "410-page", "404-json"])
def provider_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    status, page = request.param
    with serve(answering(status, page)) as fake:
        yield fake.url, page


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_page_is_the_provider_away_and_the_apis_own_404_a_gone_model(
    provider_url: tuple[str, bool], adapter: str
) -> None:
    url, page = provider_url
    build, model = ADAPTERS[adapter]
    result = AdapterRunner(build, model)(url)
    if page:
        assert result.outcome is Outcome.UNAVAILABLE, result
        assert "a page, not an answer of the provider's API" in result.message
    else:
        assert result.outcome is Outcome.MODEL_NOT_FOUND, result
