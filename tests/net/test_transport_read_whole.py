"""An answer its caller reads whole (``extensions={READ_WHOLE: True}``, as the OpenAI adapter asks for an image's
base64) is read by the transport itself before the call returns: it arrives byte-exact whatever its framing (a
length, chunks, gzip), an answer past the client's cap is still refused unread past it, and the connection still goes
back to the pool. Against raw and Starlette servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import READ_WHOLE, provider_client
from sentinel.providers._http import send
from sentinel.providers.base import Outcome, ProviderResult
from sentinel_fakes.server import serve
from tests.net.test_transport import RawServer, raw

__all__ = ["raw"]  # a fixture, imported for pytest

WHOLE = {READ_WHOLE: True}
BODY = os.urandom(3 * 1024 * 1024 + 5)


async def sized(request: Request) -> Response:
    return Response(BODY, media_type="application/octet-stream")


async def chunked(request: Request) -> StreamingResponse:
    async def pieces() -> Any:
        for start in range(0, len(BODY), 100_000):
            yield BODY[start : start + 100_000]

    return StreamingResponse(pieces(), media_type="application/octet-stream")


async def zipped(request: Request) -> Response:
    return Response(gzip.compress(BODY, 1), media_type="application/json", headers={"content-encoding": "gzip"})


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    app = Starlette(routes=[Route("/sized", sized), Route("/chunked", chunked), Route("/zipped", zipped)])
    with serve(app) as running:
        yield running.url


def call(request: Callable[[httpx.AsyncClient], Any], max_answer_bytes: int | None = None) -> Any:
    async def go() -> Any:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(10.0), max_answer_bytes) as client:
            return await request(client)

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/sized", "/chunked", "/zipped"])
def test_an_answer_read_whole_arrives_byte_exact_whatever_its_framing(site: str, path: str) -> None:
    response = call(lambda client: client.get(f"{site}{path}", extensions=WHOLE))
    assert response.status_code == 200
    assert response.content == BODY
    assert "content-encoding" not in response.headers  # decoded here: httpx must not decode it again


@pytest.mark.parametrize("path", ["/sized", "/chunked", "/zipped"])
def test_an_answer_read_whole_past_the_cap_is_the_providers_fault(site: str, path: str) -> None:
    result = call(lambda client: send(client.get(f"{site}{path}", extensions=WHOLE), "fake"), len(BODY) - 1)
    assert isinstance(result, ProviderResult)
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER
    assert f"larger than {len(BODY) - 1} bytes" in result.message


def keep_alive_answers(connection: socket.socket) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole"
    connection.sendall(answer)
    while connection.recv(65536):
        connection.sendall(answer)


def test_a_connection_read_whole_goes_back_to_the_pool(raw: Callable[..., RawServer]) -> None:
    server = raw(keep_alive_answers)

    async def three(client: httpx.AsyncClient) -> list[bytes]:
        return [(await client.get(f"{server.url}/v1", extensions=WHOLE)).content for _ in range(3)]

    assert call(three) == [b"whole"] * 3
    assert len(server.connections) == 1


def test_a_call_read_whole_returns_only_once_all_of_the_answer_has_come(raw: Callable[..., RawServer]) -> None:
    # The server sends the headers and half the body, then waits (at most 2 s) for a go that never comes before
    # sending the rest: a transport that returned at the headers would be back while the rest is still unsent.
    rest_sent = threading.Event()
    never = threading.Event()

    def in_two_halves(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nhalf")
        never.wait(2.0)
        rest_sent.set()
        connection.sendall(b"more")

    server = raw(in_two_halves)

    async def streamed(client: httpx.AsyncClient) -> tuple[bool, bytes]:
        request = client.build_request("GET", f"{server.url}/v1", extensions=WHOLE)
        response = await client.send(request, stream=True)
        came_whole = rest_sent.is_set()
        return came_whole, await response.aread()

    came_whole, body = call(streamed)
    assert body == b"halfmore"
    assert came_whole
