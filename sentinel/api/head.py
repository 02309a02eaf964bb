"""HEAD on every GET route (RFC 9110 §9.1: a server that answers GET answers HEAD), as uptime monitors probe with
it (`curl -I`, `wget --spider`, hosted HTTP monitors): FastAPI routes declared with ``@router.get`` answer GET
only, and a 405 to a monitor reads as the service being down."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinel.http.errors import allowed_methods


class HeadAsGet:
    """Serves HEAD as GET without the body on paths that have no HEAD route of their own (the image and export
    downloads have one, which answers from metadata without reading the bytes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # The same reading of the routes a 405's Allow header is made from (the static files answer HEAD themselves).
        allowed = allowed_methods(Request(scope))
        if "HEAD" in allowed or "GET" not in allowed:
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope | {"method": "GET"}, receive, without_body)
