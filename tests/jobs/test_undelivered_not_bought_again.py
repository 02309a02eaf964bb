"""A job does not buy again from a candidate whose paid images could not be delivered (outside probe F9): an output
URL that answers 404, an animated image. Within one request such a candidate is already asked once; a job's later
attempts skip it too (each noted as skipped, saying why), and with no other candidate the job fails after that one
paid call instead of paying for the same failure max_attempts times."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import clean_env, start_server


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((200, 30, 30), (30, 30, 200))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


class Provider:
    """An OpenAI-shaped provider: ``mode`` 'url-404' answers an image URL that is not found, 'animated' an animated
    GIF, 'away' a 503; it counts the generations it was asked for (each billed but the 503)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0

    def app(self) -> Starlette:
        async def generations(request: Request) -> Response:
            await request.body()
            self.calls += 1
            if self.mode == "away":
                error = {"message": "The engine is currently overloaded.", "type": "server_error", "code": None}
                return JSONResponse({"error": error}, status_code=503)
            if self.mode == "animated":
                return JSONResponse({"data": [{"b64_json": base64.b64encode(_animated_gif()).decode()}]})
            return JSONResponse({"data": [{"url": f"{str(request.base_url).rstrip('/')}/img/gone.png"}]})

        async def gone(request: Request) -> Response:
            return Response("not found", status_code=404)

        return Starlette(
            routes=[
                Route("/v1/images/generations", generations, methods=["POST"]),
                Route("/img/gone.png", gone, methods=["GET"]),
            ]
        )


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    """``serving(candidates)``: a server whose model ``house`` walks the given providers in order."""
    servers: list[Any] = []

    def start(*providers: Provider) -> str:
        stack = [serve(p.app()) for p in providers]
        urls = [s.__enter__().url for s in stack]
        servers.extend(reversed(stack))
        configured = {
            f"p{i}": {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
            for i, url in enumerate(urls)
        }
        candidates = [{"target": f"p{i}:gpt-image-1", "cost_per_image": 0.04} for i in range(len(urls))]
        routes = {"providers": configured, "models": {"house": {"candidates": candidates}}, "default_model": "house"}
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes | {"max_passes": 1}))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.0/8",
            FAKE_KEY="sk-fake",
        )
        process, base = start_server(env, tmp_path / "serve.log")
        servers.insert(0, process)
        return base

    yield start
    for server in servers:
        if hasattr(server, "stop"):
            server.stop()
        else:
            server.__exit__(None, None, None)


def run_job(base: str) -> dict[str, Any]:
    body = {"task": "product-white-background", "prompt": "a red mug on a white background", "max_attempts": 3}
    created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
    assert created.status_code == 202, created.text
    read = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=60", timeout=70)
    assert read.status_code == 200, read.text
    return read.json()


@pytest.mark.parametrize("mode", ["url-404", "animated"])
def test_a_lone_candidate_that_cannot_deliver_is_paid_once(serving, mode: str) -> None:
    provider = Provider(mode)
    base = serving(provider)
    job = run_job(base)
    assert job["state"] == "failed", repr((job["reason"], job["attempts"]))
    # One paid call, not one per attempt: every attempt would buy the same undeliverable image.
    assert provider.calls == 1
    assert [a["number"] for a in job["attempts"]] == [1], job["attempts"]
    assert "not bought again" in job["reason"], job["reason"]


def test_a_later_attempt_skips_the_candidate_and_asks_the_others(serving) -> None:
    undeliverable, away = Provider("url-404"), Provider("away")
    base = serving(undeliverable, away)
    job = run_job(base)
    assert job["state"] == "failed", repr((job["reason"], job["attempts"]))
    # The provider that was away may be back at the next attempt: asked each time. The one that was paid for an
    # image it could not deliver: once.
    assert len(job["attempts"]) == 3, job["attempts"]
    assert away.calls == 3
    assert undeliverable.calls == 1
