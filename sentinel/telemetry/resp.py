"""A lean asyncio connection to Redis for the API's two hot paths: the rate-limit count every request makes, and
the subscription that hears every finished evaluation and job.

redis-py's asyncio client spent 75-110 µs of the event loop's CPU on each command, hiredis or not (its connection
pool, retry wrapper, per-call timeout and event hooks), more than a request's own routing, and its pub/sub reader a
task switch and as much again per message. Here one connection carries every command, pipelined (Redis answers in
order), its replies parsed by hiredis as they arrive: a command costs the loop one write and one future (~15 µs), a
published message one call. It speaks to a plain ``redis://`` or ``unix://`` server; other URLs (TLS, Sentinel,
cluster) keep redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis


class _Pipe(asyncio.Protocol):
    """One connection: commands written as they come, each reply handed to the oldest waiting command; on a
    subscribed connection, each published message to ``on_message`` (with its data)."""

    def __init__(self, on_message: Callable[[bytes], None] | None = None) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._on_message = on_message
        self._transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        #: The loop the connection belongs to (a client used from another loop connects again).
        self.loop = asyncio.get_running_loop()
        #: Done (with the reason, or None) once the connection is closed or lost.
        self.lost: asyncio.Future[Exception | None] = self.loop.create_future()

    @property
    def closed(self) -> bool:
        return self.lost.done()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if self._on_message is not None and isinstance(reply, list) and reply and reply[0] == b"message":
                self._on_message(reply[2])
                continue
            if not self._waiting:  # a reply nobody asked for: the stream is out of step, so it is dropped
                self.close()
                return
            future = self._waiting.popleft()
            if not future.done():  # a command whose caller gave up keeps its place in the order, unanswered
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"the connection to Redis was lost ({exc or 'closed'})"))

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        if self.closed:
            future.set_exception(ConnectionError("the connection to Redis is closed"))
            return future
        self._waiting.append(future)
        self._transport.write(hiredis.pack_command(args))
        return future

    def close(self) -> None:
        # Closed from now on, not only once connection_lost comes (a turn of the loop later): a command sent
        # meanwhile would be written to a closing transport and wait out its timeout.
        if not self.lost.done():
            self.lost.set_result(None)
        if self._transport is not None:
            self._transport.close()  # connection_lost follows, failing the commands still waiting


class LeanRedis:
    """Commands to one Redis server over one connection, made when first needed and again after it is lost."""

    def __init__(self, url: str, timeout: float) -> None:
        # Imported here, not at the top: redis-py costs a quarter of a second of CPU to import, and every API process
        # imports this module; only one given a Redis URL needs its URL parser.
        from redis.connection import UnixDomainSocketConnection, parse_url

        self._options = parse_url(url)
        self._over_unix_socket = self._options.get("connection_class") is UnixDomainSocketConnection
        self.timeout = timeout
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Lock | None = None
        self._connecting_loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def serves(url: str) -> bool:
        """Whether this client can talk to the server at ``url`` (plain TCP or a unix socket, no TLS)."""
        return url.startswith(("redis://", "unix://"))

    async def call(self, *args: Any) -> Any:
        """One command's reply; a Redis error reply is raised (as ``hiredis.ReplyError``), as is a lost connection
        or no reply within the timeout."""
        pipe = self._pipe
        if pipe is None or pipe.closed or pipe.loop is not asyncio.get_running_loop():
            pipe = await self._connect()
        return await self._reply(pipe, args)

    async def subscribe(self, channel: str, on_message: Callable[[bytes], None]) -> asyncio.Future[Exception | None]:
        """Subscribe a connection of its own to ``channel``: each message's data goes to ``on_message`` (on the
        loop, as it arrives). Answers once Redis has confirmed, with a future done when the connection is lost."""
        pipe = await self._open(on_message)
        try:
            await self._reply(pipe, ("SUBSCRIBE", channel))
        except BaseException:
            pipe.close()
            raise
        self._pipe = pipe
        return pipe.lost

    async def _reply(self, pipe: _Pipe, args: tuple[Any, ...]) -> Any:
        future = pipe.send(args)
        # A caller that gives up cancels its future, which keeps its place in the reply order (see data_received).
        try:
            async with asyncio.timeout(self.timeout):
                reply = await future
        except TimeoutError:
            # A server that stopped answering (or a network that drops everything) is left: every command after
            # this one would wait its timeout too, and their bytes pile up in the connection's buffer. The next
            # command connects again.
            pipe.close()
            raise
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    async def _connect(self) -> _Pipe:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting_loop is not loop:
            self._connecting, self._connecting_loop = asyncio.Lock(), loop
        async with self._connecting:  # concurrent first requests share the one connection
            old = self._pipe
            if old is not None and not old.closed and old.loop is loop:
                return old
            if old is not None and old.loop is loop:
                old.close()
            self._pipe = None  # one of a loop that has ended is dropped: its loop can no longer close it
            self._pipe = await self._open(None)
            return self._pipe

    async def _open(self, on_message: Callable[[bytes], None] | None) -> _Pipe:
        loop = asyncio.get_running_loop()
        options = self._options
        async with asyncio.timeout(self.timeout):
            if self._over_unix_socket:
                _, pipe = await loop.create_unix_connection(lambda: _Pipe(on_message), options["path"])
            else:
                host, port = options.get("host", "localhost"), options.get("port", 6379)
                _, pipe = await loop.create_connection(lambda: _Pipe(on_message), host, port)
        try:
            if options.get("password") is not None:
                user = (options["username"],) if options.get("username") else ()
                await self._reply(pipe, ("AUTH", *user, options["password"]))
            if options.get("db"):
                await self._reply(pipe, ("SELECT", options["db"]))
        except BaseException:
            pipe.close()
            raise
        return pipe

    def close(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None and not pipe.loop.is_closed():
            pipe.close()
