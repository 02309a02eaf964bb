"""Waking the readers that wait for an evaluation's verdict or a job's end, the moment it is written.

A reader that long-polls (``GET /v1/evaluations/{id}?wait=30``) used to re-read its row every 50 ms:
with 16 callers waiting that was ~600 queries a second, and most of the API process's CPU. Now whoever
finishes the work announces it, and a reader re-reads only when told (or, as a safety net for an
announcement lost with a dropped connection, every second).

- Embedded default: the workers are threads of the API process, so the announcement is a call.
- With Redis: workers in other processes publish on one channel per namespace; each API process keeps
  one subscription and wakes its own readers. Redis pub/sub keeps nothing, hence the safety net.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sentinel.telemetry.resp import LeanRedis

logger = logging.getLogger(__name__)

#: How often a reader re-reads anyway while announcements arrive (one may be lost with a dropped connection).
SAFETY_NET_SECONDS = 1.0
#: How often a reader re-reads when announcements can not arrive (the subscription is down or not up yet).
POLL_SECONDS = 0.05


def evaluation_key(evaluation_id: str) -> str:
    return f"evaluation:{evaluation_id}"


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


class Waiter:
    """One reader's wake-up call, set from whichever thread announces the work finished."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._event = asyncio.Event()

    def wake(self) -> None:
        if threading.get_ident() == self._thread:
            # The Redis subscription wakes readers from the loop's own thread: setting the event there needs no
            # hand-off, whose write to the loop's wake-up pipe costs a system call and a turn of the loop.
            self._event.set()
        else:
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Until woken (True) or ``timeout`` seconds pass (False); either way the reader reads again."""
        if not self._event.is_set():
            # asyncio.timeout rather than wait_for, which wraps the wait in a task of its own on every call.
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                return False
        self._event.clear()
        return True


class FinishedSignals:
    """Announcements within one process: the embedded default, and the local half of :class:`RedisSignals`."""

    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[Waiter]] = defaultdict(set)
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        """Whether an announcement made anywhere reaches this process's readers now."""
        return True

    def announce(self, key: str) -> None:
        """The work behind ``key`` is finished (its row is committed); callable from any thread."""
        self._wake(key)

    def _wake(self, key: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for waiter in waiters:
            waiter.wake()

    @contextmanager
    def waiting(self, key: str) -> Iterator[Waiter]:
        """A waiter for ``key``, registered before the reader's first read so an announcement made between
        that read and the wait is not missed."""
        waiter = Waiter()
        with self._lock:
            self._waiters[key].add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                self._waiters[key].discard(waiter)
                if not self._waiters[key]:
                    del self._waiters[key]

    def interval(self) -> float:
        """How long a reader waits for a wake-up before it reads again."""
        return SAFETY_NET_SECONDS if self.live else POLL_SECONDS

    async def listen(self) -> None:
        """Nothing to listen to within one process."""


class RedisSignals(FinishedSignals):
    """Announcements across processes over Redis pub/sub, on ``{namespace}:finished``."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        super().__init__()
        self._url = redis_url
        self.channel = f"{namespace}:finished"
        self._publisher: Any = None
        self._subscribed = False

    @property
    def live(self) -> bool:
        return self._subscribed

    def announce(self, key: str) -> None:
        # Readers in this process need no round trip; the others hear it from Redis.
        self._wake(key)
        try:
            if self._publisher is None:
                import redis

                self._publisher = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
            self._publisher.publish(self.channel, key)
        except Exception as exc:  # a lost announcement costs readers a second, never the finished work
            logger.warning("could not announce %s on Redis (%s); readers will see it within a second", key, exc)

    async def listen(self) -> None:
        """Keep one subscription up for as long as the process runs, reconnecting with backoff."""
        subscription = self._lean_subscription if LeanRedis.serves(self._url) else self._redis_py_subscription
        backoff = 0.5
        while True:
            try:
                await subscription()
            except asyncio.CancelledError:
                self._subscribed = False  # stopped: readers poll again
                raise
            except Exception as exc:
                if self._subscribed:
                    logger.warning("lost the subscription to %s (%s); readers poll until it is back", self.channel, exc)
            if self._subscribed:
                self._subscribed, backoff = False, 0.5
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _lean_subscription(self) -> None:
        """Subscribe on a lean connection, and hear messages until it is lost (raised)."""
        connection = LeanRedis(self._url, timeout=5)
        try:
            # Each message wakes its readers from the connection's own callback: no task, no reader loop.
            lost = await connection.subscribe(self.channel, self._heard)
            self._subscribed = True
            reason = await lost
        finally:
            connection.close()
        raise ConnectionError(str(reason or "the connection was closed"))

    def _heard(self, data: bytes) -> None:
        self._wake(data.decode("utf-8", "replace"))

    async def _redis_py_subscription(self) -> None:
        """The subscription on a URL the lean connection does not speak (TLS, Sentinel): redis-py's, until lost."""
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self._url, socket_connect_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed = True
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._wake(message["data"].decode("utf-8", "replace"))
        finally:
            with suppress(Exception):
                await pubsub.aclose()
                await client.aclose()
