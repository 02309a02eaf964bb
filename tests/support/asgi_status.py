"""The status an ASGI app (a middleware in front of its own stand-in app) answers one HTTP request with."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp


async def status_of(app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {"type": "http", "method": method, "path": path, "headers": headers, "client": ("10.0.0.1", 1)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])
