"""Connections that never finish their request headers are answered 408 and closed: one client without a key
could otherwise hold every file descriptor of the server by opening connections and sending nothing, or a header
line every few seconds (requests refused, the worker's own files unopenable)."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import clean_env, start_server
from tests.hostile.conftest import COMMON, assert_no_server_errors

#: The server's header deadline here: short, so the tests end soon; generous for a loaded machine, since every
#: well-formed request below sends its headers whole, in one write.
HEADER_SECONDS = 2.0
#: How long a test waits for the server to end a connection: far past the deadline, never reached when it works.
PATIENCE = 60.0


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[str]:
    data: Path = tmp_path_factory.mktemp("headers")
    env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_HEADER_READ_TIMEOUT_SECONDS=str(HEADER_SECONDS), **COMMON)
    server, base = start_server(env, data / "serve.log")
    yield base
    server.stop()
    assert_no_server_errors(server.output())


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    return socket.create_connection((address.hostname, address.port), timeout=PATIENCE)


def answer_to_the_end(sock: socket.socket, trickle: list[bytes] = ()) -> bytes:
    """Everything the server sends until it closes, sending ``trickle`` a part at a time meanwhile (each when the
    server has said nothing for half a second), as a client that never finishes its headers does."""
    received = b""
    parts = list(trickle)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.5)
        if readable:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
        elif parts:
            try:
                sock.sendall(parts.pop(0))
            except OSError:
                return received
    raise AssertionError(f"the server kept the connection open for {PATIENCE} s: {received!r}")


def test_a_connection_that_sends_nothing_is_closed_with_408(api: str) -> None:
    with connect(api) as sock:
        said = answer_to_the_end(sock)
    assert said.startswith(b"HTTP/1.1 408 "), said


def test_headers_sent_a_line_at_a_time_forever_are_cut_off(api: str) -> None:
    with connect(api) as sock:
        sock.sendall(b"GET /v1/rubrics HTTP/1.1\r\nHost: x\r\n")
        said = answer_to_the_end(sock, [f"X-Slow-{i}: y\r\n".encode() for i in range(int(PATIENCE) * 2)])
    assert said.startswith(b"HTTP/1.1 408 "), said


def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(api: str) -> None:
    with connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        # Its start cancels the idle timer of the kept-alive connection; its end never comes.
        sock.sendall(b"GET /v1/rubrics HTTP/1.1\r\n")
        said = answer_to_the_end(sock, [f"X-Slow-{i}: y\r\n".encode() for i in range(int(PATIENCE) * 2)])
    assert b"HTTP/1.1 408 " in said, said


def test_requests_whose_headers_arrive_whole_are_served(api: str) -> None:
    with connect(api) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer


def test_a_kept_alive_connection_idle_longer_than_uvicorns_five_seconds_still_serves_the_next_request(
    api: str,
) -> None:
    # uvicorn closes a connection idle for 5 s unless told otherwise: a proxy (idle timeout 60 s) or a client that
    # reused it just then got no answer at all (a 502 behind a proxy, "Server disconnected" under a burst).
    with connect(api) as sock:
        for pause in (0.0, 6.5):
            time.sleep(pause)  # the connection sits idle between two requests
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            said = b""
            while b'"ok"' not in said:
                chunk = sock.recv(65536)
                assert chunk, f"the server closed the connection after {pause} s idle: {said!r}"
                said += chunk
            assert said.startswith(b"HTTP/1.1 200 "), said
