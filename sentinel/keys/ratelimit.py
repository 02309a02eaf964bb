"""Sliding-window rate limits with the `limits` library: on Redis when Sentinel has one (every API process
shares the counts), in memory on the embedded default."""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from sentinel.settings import Settings

logger = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        storage: Storage
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
            storage = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=f"{settings.redis_namespace}:ratelimit",
                # A Redis that is away must not hold requests: past this the request is let through (see hit).
                socket_timeout=2,
                socket_connect_timeout=2,
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._last_warning = 0.0

    async def hit(self, bucket: str, per_minute: int) -> float | None:
        """Count one request; None when it is allowed, else the seconds until the window has room again.

        When the counts cannot be reached (Redis restarting), the request is let through: a limit exists to
        protect the service, and refusing every caller while Redis is down would do the opposite."""
        item = RateLimitItemPerMinute(per_minute)
        try:
            if await self._limiter.hit(item, bucket):
                return None
            stats = await self._limiter.get_window_stats(item, bucket)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                logger.warning("rate limits not enforced: their store is unreachable (%s)", type(exc).__name__)
            return None
        return max(1.0, math.ceil(stats.reset_time - time.time()))
