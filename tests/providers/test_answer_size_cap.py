"""A provider's answer is read into memory only up to the size one image answer can have: a gzip bomb or an oversized
answer fails the call (typed, naming the limit) without being read whole, and the router falls back."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import answer_limit, provider_client
from sentinel.providers._http import json_body, send
from sentinel.providers.base import Outcome, ProviderResult
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

#: What the gzip bomb expands to; its compressed form is ~1/1000 of it.
BOMB_BYTES = 300 * 1024 * 1024
#: The image limit these tests give the client: answers may decode to ~1.3 MiB + 1 MiB.
MAX_IMAGE = 1024 * 1024
LIMIT = answer_limit(MAX_IMAGE)


def _bomb() -> bytes:
    """A JSON answer's start, then ``BOMB_BYTES`` of spaces, gzip-compressed: 300 MB from ~300 KB on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * (1024 * 1024)
    parts = [packer.compress(b'{"data": [{"b64_json": "')]
    parts += [packer.compress(block) for _ in range(BOMB_BYTES // len(block))]
    parts.append(packer.compress(b'"}]}') + packer.flush())
    return b"".join(parts)


BOMB = _bomb()
OVERSIZE = orjson.dumps({"data": [{"b64_json": "A" * (3 * LIMIT)}]})
SMALL = {"data": [{"b64_json": "aGVsbG8="}], "created": 1}


def _app() -> Starlette:
    async def bomb(request: Request) -> Response:
        return Response(BOMB, media_type="application/json", headers={"Content-Encoding": "gzip"})

    async def oversize(request: Request) -> Response:
        return Response(OVERSIZE, media_type="application/json")

    async def oversize_streamed(request: Request) -> Response:
        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(OVERSIZE), 256 * 1024):
                yield OVERSIZE[start : start + 256 * 1024]

        return StreamingResponse(pieces(), media_type="application/json")

    async def small_gzip(request: Request) -> Response:
        return Response(gzip.compress(orjson.dumps(SMALL)), headers={"Content-Encoding": "gzip"})

    async def small_deflate(request: Request) -> Response:
        return Response(zlib.compress(orjson.dumps(SMALL)), headers={"Content-Encoding": "deflate"})

    async def small_raw_deflate(request: Request) -> Response:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = packer.compress(orjson.dumps(SMALL)) + packer.flush()
        return Response(body, headers={"Content-Encoding": "deflate"})

    async def twice_gzip(request: Request) -> Response:
        return Response(gzip.compress(gzip.compress(orjson.dumps(SMALL))), headers={"Content-Encoding": "gzip, gzip"})

    async def broken_gzip(request: Request) -> Response:
        return Response(b"\x1f\x8b\x08\x00garbage" * 10, headers={"Content-Encoding": "gzip"})

    handlers = [bomb, oversize, oversize_streamed, small_gzip, small_deflate, small_raw_deflate, twice_gzip]
    routes = [Route(f"/{h.__name__}", h, methods=["POST"]) for h in [*handlers, broken_gzip]]
    # Where an OpenAI adapter configured with base URL ``{fake}/bomber`` asks for an image.
    routes.append(Route("/bomber/images/generations", bomb, methods=["POST"]))
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    with serve(_app()) as server:
        yield server.url


def _post(url: str) -> tuple[httpx.Response | ProviderResult, int]:
    """``send`` of one POST on the production client, and the peak of Python allocations while it ran."""

    async def call() -> httpx.Response | ProviderResult:
        client = provider_client(HTTP_LIMITS, httpx.Timeout(30.0), max_answer_bytes=LIMIT)
        try:
            answer = await send(client.post(url, json={}), "fakeprov")
            if isinstance(answer, httpx.Response):
                json_body(answer)
            return answer
        finally:
            await client.aclose()

    tracemalloc.start()
    try:
        answer = asyncio.run(call())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return answer, peak


@pytest.mark.parametrize("path", ["bomb", "oversize", "oversize_streamed"])
def test_an_answer_larger_than_one_image_fails_typed_without_being_read_whole(fake: str, path: str) -> None:
    answer, peak = _post(f"{fake}/{path}")
    assert isinstance(answer, ProviderResult)
    assert answer.outcome is Outcome.UNRECOGNISED_ANSWER
    assert f"larger than {LIMIT} bytes" in (answer.message or "")
    # The bomb decodes to 300 MB and the plain answer is ~7 MB: neither is held, only up to the limit (twice,
    # as httpx joins the pieces) and the server's own copy of the test's answers (allocated before tracing).
    assert peak < 3 * LIMIT + 4 * 1024 * 1024


@pytest.mark.parametrize("path", ["small_gzip", "small_deflate", "small_raw_deflate", "twice_gzip"])
def test_encoded_answers_within_the_limit_decode_as_before(fake: str, path: str) -> None:
    answer, _ = _post(f"{fake}/{path}")
    assert isinstance(answer, httpx.Response), answer
    assert json_body(answer) == SMALL
    assert "content-encoding" not in answer.headers


def test_a_broken_gzip_answer_is_a_typed_failure(fake: str) -> None:
    answer, _ = _post(f"{fake}/broken_gzip")
    assert isinstance(answer, ProviderResult)
    assert answer.outcome is Outcome.UNAVAILABLE


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_the_gateway_falls_back_past_a_gzip_bomb_and_stays_small(fake: str, tmp_path: Path) -> None:
    """`sentinel serve` with SENTINEL_MAX_IMAGE_BYTES=1 MiB: the first candidate answers a 300 MB gzip bomb, the
    second a good image; the client gets the image, and the server's peak memory grew by far less than the bomb."""
    script = Script()
    with serve(create_app(script)) as good:
        providers: dict[str, Any] = {
            "bomber": {"kind": "openai", "base_url": f"{fake}/bomber", "api_key_env": "FAKE_KEY"},
            "good": {"kind": "openai", "base_url": f"{good.url}/v1", "api_key_env": "FAKE_KEY"},
        }
        routes = {
            "providers": providers,
            "models": {"m": {"candidates": [{"target": "bomber:dall-e-3"}, {"target": "good:dall-e-3"}]}},
            "default_model": "m",
        }
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
            SENTINEL_MAX_IMAGE_BYTES=str(MAX_IMAGE),
            FAKE_KEY="k",
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            before = _peak_rss_kb(server.process.pid)
            body = {"prompt": "a lighthouse", "model": "m", "response_format": "b64_json"}
            answer = httpx.post(f"{base}/v1/images/generations", json=body, timeout=60)
            grown_mb = (_peak_rss_kb(server.process.pid) - before) / 1024
        finally:
            server.stop()
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["b64_json"]
    assert len(script.requests) == 1
    assert grown_mb < 100, f"peak RSS grew {grown_mb:.0f} MB"
