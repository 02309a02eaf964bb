"""Sliding-window rate limits: with the `limits` library on Redis when Sentinel has one (every API process
shares the counts), in this process's memory on the embedded default."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque

import hiredis
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from sentinel.settings import Settings
from sentinel.telemetry.resp import LeanRedis

logger = logging.getLogger(__name__)


#: The window every limit counts over.
WINDOW_SECONDS = 60.0
#: The limit that says "no limit" (``SENTINEL_ANONYMOUS_RPM=0``, ``SENTINEL_DEFAULT_KEY_RPM=0``): nothing is counted,
#: so the requests it covers cost no round trip to Redis.
NO_LIMIT = 0
#: A limit of this many requests a minute, or more, is no limit either, and is not counted (Redis would keep a window
#: of that many entries): set-ups that turned a limit off this way before NO_LIMIT existed, and the benchmarks for
#: their one client address, keep working.
NO_LIMIT_RPM = 10**9


def is_no_limit(per_minute: int) -> bool:
    """Whether a limit of ``per_minute`` requests a minute lets every request through uncounted."""
    return per_minute <= NO_LIMIT or per_minute >= NO_LIMIT_RPM


#: Seconds a rate-limit round trip to Redis may take before the request is let through uncounted (see hit).
REDIS_TIMEOUT_SECONDS = 2.0


class MemoryWindows:
    """Moving one-minute windows kept in this process: per bucket, the times of the requests let through in the
    last minute. The `limits` library's in-memory storage does the same with an expiry task and a thread hop
    started on every request, which cost a gateway call more CPU than its own routing."""

    #: Buckets no request touched for a minute are dropped every this many hits (addresses come and go).
    SWEEP_EVERY = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._hits = 0

    def hit(self, bucket: str, per_minute: int, now: float | None = None) -> float | None:
        """Count one request; None when it is allowed, else the seconds until the window has room again."""
        now = time.monotonic() if now is None else now
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._sweep(now)
        window = self._windows.setdefault(bucket, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) >= per_minute:
            # Room again once the oldest request still counted leaves the window.
            return max(1.0, math.ceil(window[len(window) - per_minute] + WINDOW_SECONDS - now))
        window.append(now)
        return None

    def _sweep(self, now: float) -> None:
        for bucket in [b for b, window in self._windows.items() if not window or window[-1] <= now - WINDOW_SECONDS]:
            del self._windows[bucket]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.memory: MemoryWindows | None = None
        #: The per-request count on a plain Redis URL (see :mod:`sentinel.telemetry.resp`); the `limits` client does
        #: the rest (a refusal's wait) and everything on other URLs.
        self.lean: LeanRedis | None = None
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
            self._key_prefix = f"{settings.redis_namespace}:ratelimit"
            storage = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=self._key_prefix,
                # A Redis that is away must not hold requests: past this the request is let through (see hit).
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._limiter = MovingWindowRateLimiter(storage)
            # The library's own script for taking a place in a moving window, run by the lean path on the library's
            # keys: both paths (and API processes of an older release, during a rolling update) count in the same
            # windows. A release of the library without it keeps its own client.
            self._script: bytes | str | None = getattr(storage.bridge, "SCRIPT_ACQUIRE_MOVING_WINDOW", None)
            if self._script and LeanRedis.serves(settings.redis_url):
                # The name Redis caches a script under.
                self._script_sha = hashlib.sha1(
                    self._script.encode() if isinstance(self._script, str) else self._script, usedforsecurity=False
                ).hexdigest()
                self.lean = LeanRedis(settings.redis_url, REDIS_TIMEOUT_SECONDS)
        else:
            self.memory = MemoryWindows()
        self._last_warning = 0.0

    async def hit(self, bucket: str, per_minute: int) -> float | None:
        """Count one request; None when it is allowed, else the seconds until the window has room again.

        When the counts cannot be reached (Redis restarting), the request is let through: a limit exists to
        protect the service, and refusing every caller while Redis is down would do the opposite."""
        if is_no_limit(per_minute):
            return None
        if self.memory is not None:
            return self.memory.hit(bucket, per_minute)
        item = RateLimitItemPerMinute(per_minute)
        try:
            if await (self._acquire(item, bucket) if self.lean is not None else self._limiter.hit(item, bucket)):
                return None
            stats = await self._limiter.get_window_stats(item, bucket)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                logger.warning("rate limits not enforced: their store is unreachable (%s)", type(exc).__name__)
            return None
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    async def _acquire(self, item: RateLimitItemPerMinute, bucket: str) -> bool:
        """What ``MovingWindowRateLimiter.hit`` does (the same script, key and arguments), in one lean round trip."""
        assert self.lean is not None and self._script is not None
        key = f"{self._key_prefix}:{item.key_for(bucket)}"
        args = (1, key, time.time(), item.amount, item.get_expiry(), 1)
        try:
            acquired = await self.lean.call("EVALSHA", self._script_sha, *args)
        except hiredis.ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Not cached on this server yet (or it restarted): EVAL sends the script and caches it.
            acquired = await self.lean.call("EVAL", self._script, *args)
        return bool(acquired)
