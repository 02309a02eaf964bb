"""An ASGI guard that stops reading a request body once it passes a size limit, or once it takes too long."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinel.errors import format_size


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class BodySizeLimit:
    """Answer 413 before or while reading a body larger than ``max_bytes`` (chunked bodies too), and 408 when
    the body has not all arrived ``read_timeout`` seconds after the app first asked for it (a slow-loris upload
    trickling a few bytes a second would otherwise hold its request, and its spooled parts, open for ever).

    Either way the connection is closed: the rest of the body is never read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, *self._too_large())
            return
        received = 0
        started = rejected = body_done = False
        deadline: float | None = None

        async def limited_receive() -> Message:
            nonlocal received, rejected, body_done, deadline
            if body_done or self.read_timeout is None:
                # Past the body only a disconnect can come, and waiting for it is the app's business.
                message = await receive()
            else:
                loop = asyncio.get_running_loop()
                deadline = deadline if deadline is not None else loop.time() + self.read_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    if not started:
                        await self._reject(send, *self._too_slow())
                        rejected = True
                    raise BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    if not started:
                        await self._reject(send, *self._too_large())
                        rejected = True
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                # Our 413 or 408 is out; whatever the app tries to answer after the abort is dropped.
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge, BodyTooSlow):
            await self.app(scope, limited_receive, tracking_send)

    def _too_large(self) -> tuple[int, str, str]:
        return 413, "payload_too_large", f"request body exceeds the {format_size(self.max_bytes)} limit"

    def _too_slow(self) -> tuple[int, str, str]:
        return 408, "request_timeout", f"request body was not received within {self.read_timeout:g} s; upload too slow"

    async def _reject(self, send: Send, status: int, error_type: str, message: str) -> None:
        body = orjson.dumps({"error": {"type": error_type, "message": message, "param": None, "code": None}})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read, so the connection cannot carry another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
