"""What an image server says on a failed download is quoted in our error message (and from there in stored rows:
a job's reason, a provider call's error), so a hostile server must not be able to make it huge: the status text, a
redirect's host, scheme or port, are each cut to a few hundred characters, however much the server sent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from sentinel.errors import DisallowedURL, FetchFailed, SentinelError
from sentinel.net.fetch import MAX_URL_IN_MESSAGE, MAX_WORDS_IN_MESSAGE, fetch_url

LOCAL = [ip_network("127.0.0.1/32")]
#: Far past anything a message should hold, well within what an HTTP client reads from a status line or header.
HUGE = 50_000
#: A message may hold a few quoted parts (the URL, the status text) and our own words around them.
MESSAGE_BOUND = 3 * max(MAX_URL_IN_MESSAGE, MAX_WORDS_IN_MESSAGE) + 200


def answer_for(path: str) -> bytes:
    """The raw HTTP answer the hostile server gives for ``path``."""
    if path == "/long-reason":
        head = b"HTTP/1.1 500 " + b"Broken " * (HUGE // 7)
    elif path == "/long-host":
        head = b"HTTP/1.1 302 Found\r\nLocation: http://" + b"a" * HUGE + b".example/x.png"
    elif path == "/long-scheme":
        head = b"HTTP/1.1 302 Found\r\nLocation: " + b"x" * HUGE + b"://example.com/x.png"
    elif path == "/long-port":
        head = b"HTTP/1.1 302 Found\r\nLocation: http://example.com:" + b"9x" * (HUGE // 2) + b"/x.png"
    else:
        head = b"HTTP/1.1 404 Not Found"
    return head + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else "/"
                # The client hangs up as soon as it has read what it needs.
                with contextlib.suppress(OSError):
                    conn.sendall(answer_for(path))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def failure(url: str) -> SentinelError:
    async def go() -> None:
        await fetch_url(url, max_bytes=1024, timeout=5.0, allowed_networks=LOCAL, field="image_url")

    with pytest.raises(SentinelError) as caught:
        asyncio.run(go())
    return caught.value


def test_a_huge_status_text_is_cut_but_still_named(base: str) -> None:
    error = failure(f"{base}/long-reason")
    assert isinstance(error, FetchFailed)
    assert error.message.startswith(f"{base}/long-reason answered HTTP 500 Broken Broken")
    assert error.message.endswith("...")
    assert len(error.message) <= MESSAGE_BOUND


@pytest.mark.parametrize("path", ["/long-host", "/long-scheme", "/long-port"])
def test_a_redirect_to_a_huge_address_gives_a_short_message(base: str, path: str) -> None:
    error = failure(f"{base}{path}")
    assert isinstance(error, DisallowedURL | FetchFailed)
    assert error.field == "image_url"
    assert len(error.message) <= MESSAGE_BOUND


def test_an_ordinary_status_text_is_quoted_whole(base: str) -> None:
    error = failure(f"{base}/missing")
    assert error.message == f"{base}/missing answered HTTP 404 Not Found"
