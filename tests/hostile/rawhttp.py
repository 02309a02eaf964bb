"""HTTP spoken byte for byte: requests no client library would send (unnormalised paths, lying or missing
Content-Length, bodies trickled a few bytes at a time), and the answer read however the server ends it."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Seconds from the first byte sent to the answer read.
    elapsed: float
    #: Body bytes the client had sent when the server answered.
    sent: int

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        return self.json()["error"]


def exchange(
    base: str,
    head: bytes,
    parts: Iterable[bytes] = (),
    *,
    pause: float = 0.0,
    timeout: float = 30.0,
    hang_up: bool = False,
) -> RawResponse:
    """Send ``head`` (request line and headers, ending in a blank line), then each of ``parts``, ``pause``
    seconds apart, and read the answer. Sending stops as soon as the server answers (or hangs up);
    ``hang_up`` closes the sending side after the last part, as a client that gave up half-way does."""
    address = urlsplit(base)
    started = time.monotonic()
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in parts:
            readable, _, _ = select.select([sock], [], [], pause)
            if readable:
                break  # the server answered (or closed) before the body was all sent
            try:
                sock.sendall(part)
            except OSError:
                break
            sent += len(part)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        select.select([sock], [], [], timeout)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return RawResponse(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=body,
            elapsed=time.monotonic() - started,
            sent=sent,
        )


def request_head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(data: bytes, size: int) -> list[bytes]:
    """``data`` as HTTP/1.1 chunks of ``size`` bytes, ending with the last-chunk marker."""
    chunks = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return [*chunks, b"0\r\n\r\n"]
