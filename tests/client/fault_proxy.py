"""A reverse proxy in front of a served Sentinel that misbehaves on cue, as the networks between a client and a
server do: it answers a request itself (a 503, a 429 with Retry-After, a load balancer's HTML 502) without
forwarding it, or forwards it, keeps Sentinel's answer and never sends it (the server did the work; the client's
wait runs out). Every request it sees is recorded, with its Idempotency-Key."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.server import serve

#: Hop-by-hop headers, and those that describe the body as it travelled (httpx hands us the decoded body).
_NOT_FORWARDED = {"host", "content-length", "connection", "transfer-encoding", "content-encoding", "keep-alive"}
#: A stalled request is held until its client hangs up, but never longer than this.
_MAX_STALL_SECONDS = 120.0


@dataclass(frozen=True)
class Fault:
    """What the proxy does to one request: answer ``status`` itself, or (``stall``) forward it and never answer."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = "application/json"
    stall: bool = False

    @classmethod
    def error(cls, status: int, error_type: str, message: str, **headers: str) -> Fault:
        """Sentinel's own error shape (OpenAI's), as a server that is busy or rate limiting answers."""
        body = f'{{"error": {{"message": "{message}", "type": "{error_type}", "param": null, "code": null}}}}'
        return cls(status, {k.replace("_", "-"): v for k, v in headers.items()}, body.encode())


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    idempotency_key: str | None
    content_type: str
    #: Whether it carried an Authorization header.
    authorized: bool
    at: float
    fault: Fault | None


class FaultProxy:
    """Forwards everything to ``upstream`` unless a pushed fault matches the request (method and path prefix);
    each fault applies once, in the order pushed."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.seen: list[Seen] = []
        #: Sentinel's answers to stalled requests, which their clients never got.
        self.withheld: list[httpx.Response] = []
        self._faults: list[tuple[str, str, Fault]] = []
        self._lock = threading.Lock()
        self._withheld_one = threading.Condition(self._lock)
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])

    def push(self, method: str, path_prefix: str, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend((method, path_prefix, fault) for fault in faults)

    def requests(self, method: str, path_prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and s.path.startswith(path_prefix)]

    def withheld_answer(self, timeout: float = 60.0) -> httpx.Response:
        """The first answer a stalled request never delivered, once Sentinel has given it."""
        with self._withheld_one:
            if not self._withheld_one.wait_for(lambda: self.withheld, timeout):
                raise AssertionError(f"no stalled request was answered by Sentinel in {timeout} s")
            return self.withheld[0]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, (want_method, prefix, fault) in enumerate(self._faults):
                if want_method == method and path.startswith(prefix):
                    del self._faults[index]
                    return fault
            return None

    async def _handle(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        fault = self._take(method, path)
        seen = Seen(
            method,
            path,
            request.url.query,
            request.headers.get("idempotency-key"),
            request.headers.get("content-type", ""),
            "authorization" in request.headers,
            time.monotonic(),
            fault,
        )
        with self._lock:
            self.seen.append(seen)
        if fault is not None and fault.status is not None:
            return Response(fault.body, fault.status, headers=fault.headers, media_type=fault.content_type)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        target = self.upstream + path + (f"?{request.url.query}" if request.url.query else "")
        async with httpx.AsyncClient(timeout=_MAX_STALL_SECONDS) as client:
            answer = await client.request(method, target, content=body, headers=headers)
        if fault is not None and fault.stall:
            with self._withheld_one:
                self.withheld.append(answer)
                self._withheld_one.notify_all()
            give_up = time.monotonic() + _MAX_STALL_SECONDS
            while time.monotonic() < give_up and not await request.is_disconnected():
                await asyncio.sleep(0.05)
            return Response(status_code=504)  # nobody is listening any more
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_FORWARDED}
        return Response(answer.content, answer.status_code, headers=kept)


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    with serve(proxy.app) as server:
        proxy.url = server.url
        yield proxy
