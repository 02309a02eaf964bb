"""A provider's API answering a redirect (its address moved, a load balancer in maintenance, a wrong base_url) is
the provider's or the operator's fault, never the caller's: the next candidate is asked, the redirect is not
followed (the key would go wherever it points), and the message names where it pointed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sentinel.models import ProviderCall
from sentinel.providers.base import Outcome
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.providers.harness import AdapterRunner
from tests.providers.test_not_found_pages import ADAPTERS
from tests.support.routed_server import serving_routes

ELSEWHERE = "https://moved.invalid/v2/images"


def redirecting(status: int, body: str) -> Starlette:
    async def everything(request: Request) -> Response:
        if body == "json":
            return JSONResponse({"moved": True}, status_code=status, headers={"location": ELSEWHERE})
        return HTMLResponse("<html><h1>Moved</h1></html>", status_code=status, headers={"location": ELSEWHERE})

    return Starlette(routes=[Route("/{path:path}", everything, methods=["GET", "POST", "PUT"])])


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(("status", "body"), [(301, "page"), (307, "json"), (308, "page")])
def test_a_redirect_is_the_provider_away_naming_where_it_points(adapter: str, status: int, body: str) -> None:
    build, model = ADAPTERS[adapter]
    with serve(redirecting(status, body)) as fake:
        result = AdapterRunner(build, model)(fake.url)
    assert result.outcome is Outcome.UNAVAILABLE, result
    assert ELSEWHERE in result.message
    assert "base_url" in result.message


@pytest.fixture
def two_providers(tmp_path: Path) -> Iterator[tuple[str, Script, Script, Path]]:
    moved, healthy = Script(), Script()
    with serve(create_app(moved)) as first, serve(create_app(healthy)) as second:
        routes = {
            "providers": {
                name: {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY"}
                for name, url in (("first", first.url), ("second", second.url))
            },
            "models": {"m": {"candidates": [{"target": "first:dall-e-3"}, {"target": "second:dall-e-3"}]}},
            "default_model": "m",
        }
        with serving_routes(tmp_path, routes) as (base, database):
            yield base, moved, healthy, database


def test_a_provider_that_moved_falls_back_to_the_next_candidate(two_providers) -> None:
    base, moved, healthy, database = two_providers
    moved.default = "moved"
    body = {"prompt": "a lighthouse", "model": "m", "response_format": "b64_json"}
    answer = httpx.post(f"{base}/v1/images/generations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-provider"] == "second"
    assert len(moved.requests) == 1 and len(healthy.requests) == 1
    with Session(create_engine(f"sqlite:///{database}")) as session:
        calls = session.exec(select(ProviderCall).order_by(ProviderCall.id)).all()
    assert [(call.provider, call.outcome) for call in calls] == [("first", "unavailable"), ("second", "ok")]
