"""Circuit breakers and parked candidates per provider:model, in Redis (shared by every API process) or in memory.

A candidate cools down when the provider says so (429 or 5xx with Retry-After) or after repeated failures in a short
window; the router never calls it before a provider-given Retry-After has passed, and probes a breaker-opened one
only when nothing else is left. A candidate whose provider answered "no such model" is parked: skipped, with the
provider's reason, until the routing file changes (parked entries are filed under the file's fingerprint, so a
changed file starts with none).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sentinel.net.retry_after import MAX_WAIT_SECONDS
from sentinel.providers.base import Outcome

logger = logging.getLogger(__name__)

#: Seconds a cool-down read or write may take: routing goes on without it rather than wait for a Redis that is away.
REDIS_TIMEOUT = 2.0
#: How long a parked candidate stays on record in Redis without being parked again: long enough to outlive any
#: deploy, short enough that entries of routing files nobody runs any more go away on their own.
PARKED_TTL_SECONDS = 30 * 24 * 3600

#: Outcomes that count towards opening the breaker.
COUNTED = frozenset({Outcome.RATE_LIMITED, Outcome.UNAVAILABLE, Outcome.TIMEOUT})
#: How a cool-down began, as stored: the provider's own Retry-After, or our breaker after repeated failures.
PROVIDER_SAID = "retry_after"
BREAKER = "breaker"


@dataclass(frozen=True)
class CooldownPolicy:
    #: Consecutive failures (within ``window_seconds``) that open the breaker.
    failure_threshold: int = 3
    window_seconds: float = 60.0
    #: How long an opened breaker stays open when the provider gave no Retry-After.
    cooldown_seconds: float = 30.0
    #: Upper bound on the cool-down our breaker opens for (``cooldown_seconds``). A provider's own Retry-After is not
    #: cut to it: calling before then is refused again, and the caller told to come back sooner finds it still
    #: closed. That wait is bounded only where it is read (MAX_WAIT_SECONDS, an hour: a misconfigured server).
    max_cooldown_seconds: float = 300.0

    def cooldown_for(self, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_WAIT_SECONDS)
        return min(self.cooldown_seconds, self.max_cooldown_seconds)


@dataclass(frozen=True)
class CandidateState:
    """What the router needs to know about a candidate before calling it."""

    #: Seconds it still cools down; 0 when it may be called.
    cooling_seconds: float = 0.0
    #: The cool-down is the provider's own Retry-After: calling before it passes only earns another 429.
    provider_said: bool = False
    #: Why it is parked (the provider's "no such model" answer), None when it is not.
    parked: str | None = None


class CooldownStore(Protocol):
    async def state(self, key: str, routes: str) -> CandidateState:
        """This candidate's cool-down and parking; ``routes`` is the routing file's fingerprint."""
        ...

    async def remaining(self, key: str) -> float:
        """Seconds this candidate still cools down; 0 when it may be tried."""
        ...

    async def record(
        self, key: str, outcome: Outcome, retry_after: float | None, policy: CooldownPolicy | None = None
    ) -> None:
        """A call's outcome: a success closes the breaker; failures may open it (``policy``: the provider's own)."""
        ...

    async def park(self, key: str, routes: str, reason: str) -> None: ...

    async def parked(self, routes: str) -> dict[str, str]:
        """Every parked candidate of this routing file, with its reason."""
        ...


class MemoryCooldowns:
    """For the embedded default: one process, so dicts are the shared state (parked entries last as long as it)."""

    def __init__(self, policy: CooldownPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or CooldownPolicy()
        self.clock = clock
        self._until: dict[str, tuple[float, bool]] = {}
        self._failures: dict[str, list[float]] = {}
        self._parked: dict[str, dict[str, str]] = {}
        self._lock = asyncio.Lock()

    async def state(self, key: str, routes: str) -> CandidateState:
        until, provider_said = self._until.get(key, (0.0, False))
        remaining = max(0.0, until - self.clock())
        return CandidateState(remaining, provider_said and remaining > 0, self._parked.get(routes, {}).get(key))

    async def remaining(self, key: str) -> float:
        return max(0.0, self._until.get(key, (0.0, False))[0] - self.clock())

    async def record(
        self, key: str, outcome: Outcome, retry_after: float | None, policy: CooldownPolicy | None = None
    ) -> None:
        policy = policy or self.policy
        now = self.clock()
        async with self._lock:
            if outcome is Outcome.OK:
                self._failures.pop(key, None)
                self._until.pop(key, None)
                return
            if outcome not in COUNTED:
                return
            recent = [t for t in self._failures.get(key, []) if now - t < policy.window_seconds] + [now]
            self._failures[key] = recent
            if retry_after is not None or len(recent) >= policy.failure_threshold:
                self._until[key] = (now + policy.cooldown_for(retry_after), retry_after is not None)
                self._failures.pop(key, None)

    async def park(self, key: str, routes: str, reason: str) -> None:
        self._parked.setdefault(routes, {})[key] = reason

    async def parked(self, routes: str) -> dict[str, str]:
        return dict(self._parked.get(routes, {}))


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

    async def state(self, key: str, routes: str) -> CandidateState:
        """One round trip; with Redis away, a free candidate (a generation never fails for it)."""
        cooldown = self._key("cooldown", key)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(cooldown)
                pipe.pttl(cooldown)
                pipe.hget(self._key("parked", routes), key)
                kind, ttl_ms, parked = await pipe.execute()
        except Exception as exc:
            self._unreachable(exc)
            return CandidateState()
        remaining = max(0.0, ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else 0.0
        return CandidateState(
            remaining,
            remaining > 0 and kind == PROVIDER_SAID.encode(),
            parked.decode() if parked is not None else None,
        )

    async def remaining(self, key: str) -> float:
        """Seconds left of a candidate's cool-down; with Redis away, none (a generation never fails for it)."""
        try:
            ttl_ms = await self.redis.pttl(self._key("cooldown", key))
        except Exception as exc:
            self._unreachable(exc)
            return 0.0
        return max(0.0, ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else 0.0

    async def record(
        self, key: str, outcome: Outcome, retry_after: float | None, policy: CooldownPolicy | None = None
    ) -> None:
        try:
            await self._record(key, outcome, retry_after, policy or self.policy)
        except Exception as exc:
            self._unreachable(exc)

    async def _record(self, key: str, outcome: Outcome, retry_after: float | None, policy: CooldownPolicy) -> None:
        failures = self._key("failures", key)
        if outcome is Outcome.OK:
            await self.redis.delete(failures, self._key("cooldown", key))
            return
        if outcome not in COUNTED:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(failures)
            pipe.pexpire(failures, int(policy.window_seconds * 1000))
            count, _ = await pipe.execute()
        if retry_after is not None or count >= policy.failure_threshold:
            cooldown_ms = max(1, int(policy.cooldown_for(retry_after) * 1000))
            kind = PROVIDER_SAID if retry_after is not None else BREAKER
            await self.redis.set(self._key("cooldown", key), kind, px=cooldown_ms)
            await self.redis.delete(failures)

    async def park(self, key: str, routes: str, reason: str) -> None:
        parked = self._key("parked", routes)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(parked, key, reason)
                pipe.expire(parked, PARKED_TTL_SECONDS)
                await pipe.execute()
        except Exception as exc:
            self._unreachable(exc)

    async def parked(self, routes: str) -> dict[str, str]:
        try:
            entries = await self.redis.hgetall(self._key("parked", routes))
        except Exception as exc:
            self._unreachable(exc)
            return {}
        return {k.decode(): v.decode() for k, v in entries.items()}

    async def close(self) -> None:
        await self.redis.aclose()
