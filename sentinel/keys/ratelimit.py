"""Sliding-window rate limits: with the `limits` library on Redis when Sentinel has one (every API process
shares the counts), in this process's memory on the embedded default."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass

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

#: The `limits` library's moving-window acquire (the same key, the same list of request times, newest first, at most
#: ``limit`` kept), which also answers what the OpenAI-style headers need in the same round trip: how many places of
#: the window are taken after it, and the times of the newest and the oldest request still counted. The library's
#: own script answers only whether the request got a place, and its window stats are a second round trip.
ACQUIRE_AND_COUNT = b"""
local timestamp = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local since = timestamp - expiry
local acquired = 0
if amount <= limit then
    local entry = redis.call('lindex', KEYS[1], limit - amount)
    if not (entry and tonumber(entry) >= since) then
        local entries = {}
        for i = 1, amount do
            entries[i] = timestamp
        end
        for i = 1, #entries, 5000 do
            redis.call('lpush', KEYS[1], unpack(entries, i, math.min(i + 4999, #entries)))
        end
        redis.call('ltrim', KEYS[1], 0, limit - 1)
        redis.call('expire', KEYS[1], expiry)
        acquired = 1
    end
end
local low, high, taken = 0, redis.call('llen', KEYS[1]) - 1, 0
while low <= high do
    local middle = math.floor((low + high) / 2)
    local value = tonumber(redis.call('lindex', KEYS[1], middle))
    if value and value >= since then
        taken = middle + 1
        low = middle + 1
    else
        high = middle - 1
    end
end
if taken == 0 then
    return {acquired, 0, '', ''}
end
return {acquired, taken, redis.call('lindex', KEYS[1], 0), redis.call('lindex', KEYS[1], taken - 1)}
"""
ACQUIRE_AND_COUNT_SHA = hashlib.sha1(ACQUIRE_AND_COUNT, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Window:
    """Where one request left its limit: whether it got through, and what OpenAI's ``x-ratelimit-*-requests``
    headers say (the limit, the places left, the time until the window is back to its whole limit: the newest request
    counted leaving it)."""

    limit: int
    #: Places left in the window after this request; None where they are not known without another round trip.
    remaining: int | None
    #: Seconds until the window is empty again (every counted request has left it); None where not known.
    reset_seconds: float | None
    #: None when the request got through, else the seconds until the window has room again.
    retry_after: float | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        """OpenAI's ``x-ratelimit-*-requests`` headers, raw for an ASGI answer (what is not known is left out)."""
        raw = [(b"x-ratelimit-limit-requests", str(self.limit).encode())]
        if self.remaining is not None:
            raw.append((b"x-ratelimit-remaining-requests", str(self.remaining).encode()))
        if self.reset_seconds is not None:
            raw.append((b"x-ratelimit-reset-requests", duration(self.reset_seconds).encode()))
        return raw


def duration(seconds: float) -> str:
    """A wait as OpenAI's ``x-ratelimit-reset-*`` headers write it: ``12ms``, ``1.5s``, ``6m0s``."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    return f"{int(minutes)}m{rest:g}s" if minutes else f"{rest:g}s"


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
        return self.take(bucket, per_minute, now).retry_after

    def take(self, bucket: str, per_minute: int, now: float | None = None) -> Window:
        """Count one request: where it left the window (see :class:`Window`)."""
        now = time.monotonic() if now is None else now
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._sweep(now)
        window = self._windows.setdefault(bucket, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) >= per_minute:
            # Room again once the oldest request still counted leaves the window.
            wait = max(1.0, math.ceil(window[len(window) - per_minute] + WINDOW_SECONDS - now))
            return Window(per_minute, 0, window[-1] + WINDOW_SECONDS - now, wait)
        window.append(now)
        return Window(per_minute, per_minute - len(window), WINDOW_SECONDS)

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
            # The lean path runs ACQUIRE_AND_COUNT on the library's keys, in the library's layout (a list of request
            # times): both paths (and API processes of an older release, during a rolling update) count in the same
            # windows. A release of the library without its list script may keep them otherwise: it keeps its client.
            library_layout = getattr(storage.bridge, "SCRIPT_ACQUIRE_MOVING_WINDOW", None) is not None
            if library_layout and LeanRedis.serves(settings.redis_url):
                self.lean = LeanRedis(settings.redis_url, REDIS_TIMEOUT_SECONDS)
        else:
            self.memory = MemoryWindows()
        self._last_warning = 0.0

    async def hit(self, bucket: str, per_minute: int) -> float | None:
        """Count one request; None when it is allowed, else the seconds until the window has room again.

        When the counts cannot be reached (Redis restarting), the request is let through: a limit exists to
        protect the service, and refusing every caller while Redis is down would do the opposite."""
        window = await self.take(bucket, per_minute)
        return window.retry_after if window is not None else None

    async def take(self, bucket: str, per_minute: int) -> Window | None:
        """Count one request: where it left its window (see :class:`Window`), in the one round trip a count takes;
        None when no limit applies (nothing is counted) or the counts cannot be reached (see :meth:`hit`)."""
        if is_no_limit(per_minute):
            return None
        if self.memory is not None:
            return self.memory.take(bucket, per_minute)
        item = RateLimitItemPerMinute(per_minute)
        try:
            if self.lean is not None:
                return await self._acquire(item, bucket)
            if await self._limiter.hit(item, bucket):
                # The library's client says only that the request got a place: what is left would be a second
                # round trip.
                return Window(per_minute, None, None)
            stats = await self._limiter.get_window_stats(item, bucket)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                logger.warning("rate limits not enforced: their store is unreachable (%s)", type(exc).__name__)
            return None
        return Window(per_minute, 0, None, max(1.0, math.ceil(stats.reset_time - time.time())))

    async def _acquire(self, item: RateLimitItemPerMinute, bucket: str) -> Window:
        """What ``MovingWindowRateLimiter.hit`` does (the same key, window and arguments), in one lean round trip
        that also counts what is left of the window (:data:`ACQUIRE_AND_COUNT`)."""
        assert self.lean is not None
        key = f"{self._key_prefix}:{item.key_for(bucket)}"
        now = time.time()
        args = (1, key, now, item.amount, item.get_expiry(), 1)
        try:
            reply = await self.lean.call("EVALSHA", ACQUIRE_AND_COUNT_SHA, *args)
        except hiredis.ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Not cached on this server yet (or it restarted): EVAL sends the script and caches it.
            reply = await self.lean.call("EVAL", ACQUIRE_AND_COUNT, *args)
        acquired, taken, newest, oldest = reply
        limit = item.amount
        expiry = item.get_expiry()
        reset = float(newest) + expiry - now if newest else None
        if acquired:
            return Window(limit, max(0, limit - int(taken)), reset)
        # Room again once the oldest request still counted leaves the window (the library's window stats' reset).
        wait = max(1.0, math.ceil(float(oldest) + expiry - now)) if oldest else 1.0
        return Window(limit, 0, reset, wait)
