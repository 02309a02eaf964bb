"""Circuit breakers per provider:model, in Redis (shared by every API process) or in memory.

A candidate cools down when the provider says so (429 with Retry-After) or after repeated
failures in a short window; the router skips it while it cools, then probes it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sentinel.providers.base import Outcome

logger = logging.getLogger(__name__)

#: Seconds a cool-down read or write may take: routing goes on without it rather than wait for a Redis that is away.
REDIS_TIMEOUT = 2.0

#: Outcomes that count towards opening the breaker.
COUNTED = frozenset({Outcome.RATE_LIMITED, Outcome.UNAVAILABLE, Outcome.TIMEOUT})


@dataclass(frozen=True)
class CooldownPolicy:
    #: Consecutive failures (within ``window_seconds``) that open the breaker.
    failure_threshold: int = 3
    window_seconds: float = 60.0
    #: How long an opened breaker stays open when the provider gave no Retry-After.
    cooldown_seconds: float = 30.0
    #: Upper bound on a provider's Retry-After, so one answer cannot park a candidate for hours.
    max_cooldown_seconds: float = 300.0

    def cooldown_for(self, retry_after: float | None) -> float:
        return min(retry_after if retry_after is not None else self.cooldown_seconds, self.max_cooldown_seconds)


class CooldownStore(Protocol):
    async def remaining(self, key: str) -> float:
        """Seconds this candidate still cools down; 0 when it may be tried."""
        ...

    async def record(self, key: str, outcome: Outcome, retry_after: float | None) -> None: ...


class MemoryCooldowns:
    """For the embedded default: one process, so a dict is the shared state."""

    def __init__(self, policy: CooldownPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or CooldownPolicy()
        self.clock = clock
        self._until: dict[str, float] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = asyncio.Lock()

    async def remaining(self, key: str) -> float:
        return max(0.0, self._until.get(key, 0.0) - self.clock())

    async def record(self, key: str, outcome: Outcome, retry_after: float | None) -> None:
        now = self.clock()
        async with self._lock:
            if outcome is Outcome.OK:
                self._failures.pop(key, None)
                self._until.pop(key, None)
                return
            if outcome not in COUNTED:
                return
            recent = [t for t in self._failures.get(key, []) if now - t < self.policy.window_seconds] + [now]
            self._failures[key] = recent
            if retry_after is not None or len(recent) >= self.policy.failure_threshold:
                self._until[key] = now + self.policy.cooldown_for(retry_after)
                self._failures.pop(key, None)


class RedisCooldowns:
    """Shared by every API process and machine: keys expire on their own, nothing to clean up."""

    def __init__(self, url: str, namespace: str, policy: CooldownPolicy | None = None) -> None:
        import redis.asyncio as redis

        self.policy = policy or CooldownPolicy()
        self.redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        self.namespace = namespace
        self._last_warning = 0.0

    def _key(self, kind: str, key: str) -> str:
        return f"{self.namespace}:{kind}:{key}"

    def _unreachable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            logger.warning("provider cool-downs not shared: Redis is unreachable (%s)", type(exc).__name__)

    async def remaining(self, key: str) -> float:
        """Seconds left of a candidate's cool-down; with Redis away, none (a generation never fails for it)."""
        try:
            ttl_ms = await self.redis.pttl(self._key("cooldown", key))
        except Exception as exc:
            self._unreachable(exc)
            return 0.0
        return max(0.0, ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else 0.0

    async def record(self, key: str, outcome: Outcome, retry_after: float | None) -> None:
        try:
            await self._record(key, outcome, retry_after)
        except Exception as exc:
            self._unreachable(exc)

    async def _record(self, key: str, outcome: Outcome, retry_after: float | None) -> None:
        failures = self._key("failures", key)
        if outcome is Outcome.OK:
            await self.redis.delete(failures, self._key("cooldown", key))
            return
        if outcome not in COUNTED:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(failures)
            pipe.pexpire(failures, int(self.policy.window_seconds * 1000))
            count, _ = await pipe.execute()
        if retry_after is not None or count >= self.policy.failure_threshold:
            cooldown_ms = max(1, int(self.policy.cooldown_for(retry_after) * 1000))
            await self.redis.set(self._key("cooldown", key), outcome.value, px=cooldown_ms)
            await self.redis.delete(failures)

    async def close(self) -> None:
        await self.redis.aclose()
