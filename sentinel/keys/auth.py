"""Who is calling: Bearer keys on /v1 with a scope per route, and rate limits per key and per client address.
A pure ASGI middleware, so a refused request costs one hash, one cached lookup and one counter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinel.keys.ratelimit import RateLimiter
from sentinel.keys.service import Caller, KeyService, is_loopback
from sentinel.settings import Settings

logger = logging.getLogger(__name__)

#: Probes and assets are never counted or refused.
UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics", "/static/", "/favicon.ico")
#: The login forms (the plain one, and the one carrying a decision after a session ended): one bucket of attempts.
LOGIN_PATHS = ("/login", "/login/decision")
#: A route that takes a key when one is sent but lets the endpoint accept a signed URL instead.
SIGNED_OR_KEY = "signed-or-key"


#: The scopes that may call each /v1 family of routes (any one of them will do), by path prefix. A route no
#: prefix names needs only a valid key: a new paid route must be added here, and a test checks every route is.
ROUTE_SCOPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Every /v1/images/ POST makes (and bills) images: generations, edits and variations alike.
    ("/v1/images/", ("generate",)),
    ("/v1/models", ("generate",)),
    ("/v1/jobs", ("generate",)),
    ("/v1/evaluations", ("evaluate",)),
    # Webhooks carry jobs' and evaluations' results: a key that makes either may read and replay its tenant's.
    ("/v1/webhooks", ("generate", "evaluate")),
    ("/v1/review", ("review",)),
    ("/v1/dashboard", ("admin",)),
)


def required_scope(method: str, path: str) -> tuple[str, ...] | str | None:
    """What a /v1 route needs: None for a public one; "any": any valid key; SIGNED_OR_KEY: a key of the owning
    tenant, or a signed URL, which the endpoint checks; else the scopes of which the key needs one."""
    if not path.startswith("/v1/"):
        return None
    if path.startswith("/v1/images/") and path != "/v1/images/generations" and method in ("GET", "HEAD"):
        # The URLs Sentinel hands out must work in a browser or an <img> tag, which send no Authorization
        # header: they are signed. A caller with a key may read its tenant's images unsigned.
        return SIGNED_OR_KEY
    for prefix, scopes in ROUTE_SCOPES:
        if path.startswith(prefix):
            return scopes
    return "any"


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class ApiKeyAuth:
    def __init__(self, app: ASGIApp, keys: KeyService, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNLIMITED_PATHS):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        needed = required_scope(method, path)
        token = _bearer(scope)
        caller: Caller | None = None
        if needed is not None:
            try:
                caller, required = self._cached_check(token)
                if required is None:
                    # What the cache no longer vouches for is read in a thread: on the loop the query stalled every
                    # request the API was serving, once per key and once for the key count every cache period.
                    caller, required = await asyncio.to_thread(self._check, token)
                open_server = caller is None and not required
                if needed == SIGNED_OR_KEY:
                    # No key: the endpoint asks for a signature. A wrong key is still a wrong key.
                    required = required and token is not None
            except Exception:
                logger.exception("API keys could not be checked")
                await _refuse(
                    send,
                    503,
                    "server_error",
                    "keys_unavailable",
                    "API keys cannot be checked right now (the database is unreachable); try again shortly.",
                    {"retry-after": "1"},
                )
                return
            # An open server (loopback, no keys yet) takes any token: the OpenAI SDK insists on sending one.
            if required:
                message = "Incorrect API key provided." if token else _no_key_message(scope)
                await _refuse(send, 401, "invalid_request_error", "invalid_api_key", message)
                return
            foreign = open_server and foreign_caller(scope)
            if foreign:
                await _refuse(send, 403, "permission_error", "open_server_local_only", foreign)
                return
        if caller is not None and isinstance(needed, tuple) and not any(caller.allows(s) for s in needed):
            wanted = " or ".join(f"'{scope}'" for scope in needed)
            message = f"key '{caller.name}' has scopes {', '.join(caller.scopes)}; this call needs {wanted}"
            await _refuse(send, 403, "permission_error", "missing_scope", message)
            return
        if caller is not None:
            bucket, per_minute = f"key:{caller.id}", caller.rpm or self.settings.default_key_rpm
        elif method == "POST" and path in LOGIN_PATHS:
            bucket, per_minute = f"login:{client_address(scope)}", self.settings.login_attempts_per_minute
        else:
            bucket, per_minute = f"ip:{client_address(scope)}", self.settings.anonymous_rpm
        window = await self.limiter.take(bucket, per_minute)
        if window is not None and window.retry_after is not None:
            retry_after = window.retry_after
            who = f"key '{caller.name}'" if caller else f"address {client_address(scope)}"
            await _refuse(
                send,
                429,
                "rate_limit_error",
                "rate_limit_exceeded",
                f"Rate limit reached for {who}: {per_minute} requests per minute. Try again in {retry_after:g} s.",
                {"retry-after": str(int(retry_after))},
                window.headers(),
            )
            return
        scope.setdefault("state", {})["caller"] = caller
        if window is None:
            # No limit applies (or its counts are away): nothing to say, and no wrapper on the answer's way out.
            await self.app(scope, receive, send)
            return
        limits = window.headers()

        async def send_with_limits(message: Message) -> None:
            # OpenAI's x-ratelimit-*-requests on whatever the endpoint answers (a client paces itself by them).
            if message["type"] == "http.response.start":
                message = message | {"headers": [*message.get("headers", ()), *limits]}
            await send(message)

        await self.app(scope, receive, send_with_limits)

    def _cached_check(self, token: str | None) -> tuple[Caller | None, bool | None]:
        """:meth:`_check` from what the key cache still vouches for; a required of None: it does not know."""
        caller = None
        if token:
            known, caller = self.keys.cached_caller(token)
            if not known:
                return None, None
        return caller, caller is None and self.keys.cached_keys_required()

    def _check(self, token: str | None) -> tuple[Caller | None, bool]:
        """The key sent (None without one, or for an unknown one), and whether a call without a key is refused."""
        caller = self.keys.caller(token) if token else None
        return caller, caller is None and self.keys.keys_required()


def foreign_caller(scope: Scope) -> str | None:
    """Why a request must not reach an open server (loopback, no keys yet), or None. Loopback is no boundary against
    the browser on the same machine: any page it shows may POST to 127.0.0.1 (with an Origin of its own site), and a
    name of the attacker's that resolves to 127.0.0.1 makes its reads same-origin (with a Host of that name)."""
    host = origin = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
    if host is not None and not _local_name(_without_port(host)):
        return (
            f"This server has no API keys yet, so it answers only requests addressed to this machine "
            f"(localhost, 127.0.0.1 or ::1), and this one was addressed to '{host[:100]}'. Create a key with "
            "`sentinel keys create` to serve it under other names."
        )
    if origin is not None and not _local_name(_origin_host(origin)):
        return (
            f"This server has no API keys yet, so it answers no web page but one served from this machine, and this "
            f"request came from a page of '{origin[:100]}'. Create a key with `sentinel keys create` and send it "
            "as 'Authorization: Bearer <key>'."
        )
    return None


def _origin_host(origin: str) -> str:
    """The host an Origin names; "" for "null" (a sandboxed frame, a file: page) and for what does not parse."""
    try:
        return urlsplit(origin).hostname or ""
    except ValueError:
        return ""


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host


def _local_name(host: str) -> bool:
    """A name only this machine answers to: a loopback address, localhost, or a name under .localhost (which
    browsers resolve to loopback whatever DNS says)."""
    host = host.lower().rstrip(".")
    return is_loopback(host) or host == "localhost" or host.endswith(".localhost")


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def _no_key_message(scope: Scope) -> str:
    """Why no key was read, naming the header the caller did send (never its value)."""
    names = {name for name, _ in scope["headers"]}
    if b"authorization" in names:
        return (
            "The Authorization header holds no Bearer token: send the key as 'Authorization: Bearer <key>' "
            "(the word Bearer, a space, then the key)."
        )
    sent = sorted(name.decode("latin-1") for name in names & {b"x-api-key", b"api-key"})
    if sent:
        return f"Sentinel does not read a key from the {sent[0]} header: send it as 'Authorization: Bearer <key>'."
    return (
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
        "(create one with `sentinel keys create`)."
    )


async def _refuse(
    send: Send,
    status: int,
    kind: str,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    raw_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    raw: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    raw += raw_headers
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
