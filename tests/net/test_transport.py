"""The provider client's aiohttp transport: what an adapter sends arrives as sent, answers come back as httpx
responses, and every network failure is an httpx error the adapters already classify."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers._http import send
from sentinel.providers.base import Outcome, ProviderResult
from sentinel_fakes.server import serve

BIG = os.urandom(4 * 1024 * 1024 + 17)


async def echo(request: Request) -> Response:
    body = await request.body()
    form_parts: dict[str, Any] = {}
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        for key, value in form.multi_items():
            form_parts[key] = hashlib.sha256(await value.read()).hexdigest() if hasattr(value, "read") else str(value)
    answer = {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode(),
        "query": request.scope["query_string"].decode(),
        "authorization": request.headers.get("authorization"),
        "user_agent": request.headers.get("user-agent"),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "form": form_parts,
    }
    return Response(
        gzip.compress(__import__("orjson").dumps(answer)),
        media_type="application/json",
        headers={"content-encoding": "gzip", "x-twice": "a"},
    )


async def big(request: Request) -> Response:
    response = Response(BIG, media_type="application/octet-stream")
    response.headers.append("x-twice", "b")
    response.headers.append("x-twice", "c")
    return response


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    app = Starlette(routes=[Route("/echo/{rest:path}", echo, methods=["GET", "POST"]), Route("/big", big)])
    with serve(app) as running:
        yield running.url


def call(request: Callable[[httpx.AsyncClient], Any], timeout: float = 5.0) -> Any:
    async def go() -> Any:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(timeout)) as client:
            return await request(client)

    return asyncio.run(go())


def test_request_arrives_as_sent_and_a_gzip_answer_is_decoded(site: str) -> None:
    response = call(
        lambda client: client.post(
            f"{site}/echo/a%2Fb", params={"q": "two words"}, json={"prompt": "é"}, headers={"Authorization": "Bearer k"}
        )
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    # An escaped slash stays escaped: a provider's resource path is not rewritten on the way.
    assert seen["raw_path"] == "/echo/a%2Fb"
    assert seen["query"] == "q=two+words"
    assert seen["authorization"] == "Bearer k"
    assert seen["user_agent"].startswith("python-httpx/")
    assert seen["body_sha256"] == hashlib.sha256('{"prompt":"é"}'.encode()).hexdigest()


def test_multipart_upload_arrives_intact(site: str) -> None:
    image = os.urandom(300_000)
    response = call(
        lambda client: client.post(
            f"{site}/echo/edits", data={"prompt": "make it blue"}, files={"image": ("image.png", image, "image/png")}
        )
    )
    assert response.json()["form"] == {"prompt": "make it blue", "image": hashlib.sha256(image).hexdigest()}


def test_large_answer_arrives_byte_exact_with_repeated_headers(site: str) -> None:
    response = call(lambda client: client.get(f"{site}/big"))
    assert response.content == BIG
    assert response.headers.get_list("x-twice") == ["b", "c"]
    assert response.headers["content-length"] == str(len(BIG))


@dataclass
class RawServer:
    """A TCP server that answers each connection with ``script(connection)``: for answers no HTTP server gives."""

    script: Callable[[socket.socket], None]
    connections: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        try:
            while b"\r\n\r\n" not in connection.recv(65536):
                pass
            self.script(connection)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def keep_alive_answers(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    while connection.recv(65536):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_connections_are_kept_alive_between_calls(raw: Callable[..., RawServer]) -> None:
    server = raw(keep_alive_answers)

    async def three(client: httpx.AsyncClient) -> list[bytes]:
        return [(await client.get(f"{server.url}/v1")).content for _ in range(3)]

    assert call(three) == [b"ok"] * 3
    assert len(server.connections) == 1


def never_answers(connection: socket.socket) -> None:
    connection.recv(65536)


def drops_mid_body(connection: socket.socket) -> None:
    connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"data"')
    connection.close()


def closes_without_answer(connection: socket.socket) -> None:
    connection.close()


def garbage(connection: socket.socket) -> None:
    connection.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    connection.close()


@pytest.mark.parametrize(
    ("script", "error", "outcome"),
    [
        (never_answers, httpx.ReadTimeout, Outcome.TIMEOUT),
        (drops_mid_body, httpx.RemoteProtocolError, Outcome.UNAVAILABLE),
        (closes_without_answer, httpx.RemoteProtocolError, Outcome.UNAVAILABLE),
        (garbage, httpx.RemoteProtocolError, Outcome.UNAVAILABLE),
    ],
)
def test_network_failures_are_httpx_errors_the_adapters_classify(
    raw: Callable[..., RawServer], script: Callable[[socket.socket], None], error: type, outcome: Outcome
) -> None:
    server = raw(script)
    with pytest.raises(error):
        call(lambda client: client.post(f"{server.url}/v1/images/generations", json={}), timeout=0.5)
    result = call(lambda client: send(client.post(f"{server.url}/v1/images/generations", json={}), "fake"), 0.5)
    assert isinstance(result, ProviderResult)
    assert result.outcome is outcome
    assert result.message.startswith("fake ")


def test_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        call(lambda client: client.get(f"http://127.0.0.1:{port}/"))


def test_a_closed_client_can_not_be_used_again(site: str) -> None:
    async def reuse(client: httpx.AsyncClient) -> None:
        await client.aclose()
        await client.get(f"{site}/big")

    with pytest.raises(RuntimeError):
        call(reuse)


async def cookie_header(request: Request) -> Response:
    response = Response(request.headers.get("cookie", ""), media_type="text/plain")
    if "set" in request.query_params:
        response.set_cookie("affinity", request.query_params["set"])
    return response


def test_a_cookie_a_provider_sets_is_sent_back_and_answers_without_one_change_nothing() -> None:
    app = Starlette(routes=[Route("/cookie", cookie_header)])

    async def calls(client: httpx.AsyncClient) -> list[str]:
        seen = [(await client.get(f"{base}/cookie")).text]
        seen.append((await client.get(f"{base}/cookie", params={"set": "node-7"})).text)
        seen.append((await client.get(f"{base}/cookie")).text)
        return seen

    with serve(app) as running:
        base = running.url
        assert call(calls) == ["", "", "affinity=node-7"]
