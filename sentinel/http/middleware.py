"""The ASGI middleware around every request: its request id, and its access log line and metrics.

Pure ASGI (no per-request task or body copy); what they write is :mod:`sentinel.telemetry`'s.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinel.telemetry.logging import accept_request_id, request_id
from sentinel.telemetry.metrics import HTTP_DURATION, HTTP_REQUESTS

logger = logging.getLogger("sentinel.access")

#: Paths probed every few seconds: logged at debug level only.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestIdMiddleware:
    """Pure ASGI: the request id of each HTTP request, set for the handler and echoed as ``x-request-id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                supplied = value.decode("latin-1")
                break
        rid = accept_request_id(supplied)
        scope.setdefault("state", {})["request_id"] = rid
        encoded = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", encoded))
                message = {**message, "headers": headers}
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/jobs/{job_id}``), never the raw path: ids would explode the series."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template or "unmatched"


class RequestMetrics:
    """Pure ASGI: counts and times every HTTP request by route template, and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route, str(status)).observe(elapsed)
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            if logger.isEnabledFor(level):
                client = scope.get("client")
                logger.log(
                    level,
                    '"%s %s" %d %.1f ms',
                    method,
                    scope.get("path", ""),
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
