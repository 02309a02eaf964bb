"""Connections that never finish their request headers are closed.

uvicorn times out a kept-alive connection that sits idle between requests, but not one that has opened and sends
nothing, or sends its headers a line at a time: each such connection holds a file descriptor for as long as the
client likes, so one client without a key could hold them all (new requests refused, the worker's own files
unopenable). Here every request's headers must be complete within ``SENTINEL_HEADER_READ_TIMEOUT_SECONDS`` of the
connection (for its first request) or of the request's first byte (for the next ones); otherwise the connection is
answered 408 and closed. The body has its own limit (``SENTINEL_BODY_READ_TIMEOUT_SECONDS``, in the app).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: What a connection whose headers did not arrive in time is told before it is closed.
HEADERS_TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: 47\r\n\r\nthe request's headers did not arrive in time.\r\n"
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), with a deadline on each request's headers."""

    #: Set by :func:`with_header_deadline` from the settings.
    header_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._start_header_deadline()  # the first bytes of another request on a kept-alive connection
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._stop_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_deadline()
        super().connection_lost(exc)

    def _start_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _stop_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(HEADERS_TOO_SLOW)
            self.transport.close()


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, its headers due within ``seconds``."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_seconds": seconds})
