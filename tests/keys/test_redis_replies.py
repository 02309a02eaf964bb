"""The API's Redis round trips on every request (the per-key rate limit) and on every finished evaluation (the
wake-up subscription) read their replies with hiredis, a project dependency: redis-py's pure-Python parser cost
the API more CPU per evaluation than the endpoint's own work."""

from __future__ import annotations

import asyncio

from redis._parsers import _AsyncHiredisParser, _HiredisParser

from sentinel.keys.ratelimit import RateLimiter
from sentinel.settings import Settings
from sentinel.telemetry.finished import RedisSignals
from tests.conftest import REDIS_URL


def test_the_rate_limit_counts_on_redis_with_the_hiredis_parser(redis_namespace: str) -> None:
    limiter = RateLimiter(Settings(redis_url=REDIS_URL, redis_namespace=redis_namespace))
    assert limiter.memory is None

    async def hit_and_see() -> tuple[float | None, object]:
        allowed = await limiter.hit("key:k1", 5)
        client = limiter._limiter.storage.bridge.storage
        connection = await client.connection_pool.get_connection()
        try:
            return allowed, connection._parser
        finally:
            await client.connection_pool.release(connection)
            await client.aclose()

    allowed, parser = asyncio.run(hit_and_see())
    assert allowed is None
    assert isinstance(parser, _AsyncHiredisParser)


def test_the_finished_work_announcements_use_the_hiredis_parser(redis_namespace: str) -> None:
    signals = RedisSignals(REDIS_URL, redis_namespace)
    signals.announce("evaluation:e1")
    connection = signals._publisher.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, _HiredisParser)
    finally:
        signals._publisher.connection_pool.release(connection)
        signals._publisher.close()
