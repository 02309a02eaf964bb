"""Azure OpenAI's way of taking a key, in front of one of our fake OpenAI-style servers.

Azure OpenAI's key authentication is an ``api-key: <key>`` header; a request with ``Authorization: Bearer <key>``
(the OpenAI way) is answered 401, as is a wrong key. Its paths are ``/openai/deployments/<deployment>/...`` with
``?api-version=`` on every call. This front answers so, and hands a request with the right key on to the fake
behind it as that fake expects it (``/v1/...``, ``Authorization: Bearer <key>``). Its 401 repeats the credential it
was sent, as some gateways do, so a test can see that no error, log or call row carries the key."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

DEPLOYMENTS = "/openai/deployments/"
API_VERSION = "2025-04-01-preview"


class AzureFront:
    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key
        #: Every request's path, query and the credential headers it came with.
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode()
        self.seen.append(
            {
                "path": path,
                "query": query,
                "api-key": headers.get("api-key"),
                "authorization": headers.get("authorization"),
            }
        )
        if path.startswith(DEPLOYMENTS):
            given = headers.get("api-key")
            if given != self.key or "authorization" in headers or f"api-version={API_VERSION}" not in query:
                await _refuse(send, given or headers.get("authorization", ""))
                return
            # /openai/deployments/<deployment>/images/generations → /v1/images/generations, as the fake serves it.
            rest = path[len(DEPLOYMENTS) :].split("/", 1)[1]
            kept = [(n, v) for n, v in scope["headers"] if n.lower() not in (b"api-key", b"authorization")]
            scope = dict(scope, path=f"/v1/{rest}", raw_path=f"/v1/{rest}".encode(), query_string=b"")
            scope["headers"] = [*kept, (b"authorization", f"Bearer {self.key}".encode())]
        await self.app(scope, receive, send)


async def _refuse(send: Send, presented: str) -> None:
    message = (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
        f"active subscription and use a correct regional API endpoint for your resource. (key: {presented})"
    )
    body = json.dumps({"error": {"code": "401", "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
