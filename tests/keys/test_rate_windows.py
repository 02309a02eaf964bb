"""The in-memory rate limit (the embedded default): a moving one-minute window per bucket, and the wait it names
when full is the time until its oldest counted request leaves the window."""

from __future__ import annotations

import asyncio

from sentinel.keys.ratelimit import MemoryWindows, RateLimiter
from sentinel.settings import Settings


def test_a_full_window_names_the_wait_until_its_oldest_request_leaves_it() -> None:
    windows = MemoryWindows()
    assert [windows.hit("key:a", 3, now=t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert windows.hit("key:a", 3, now=30.0) == 30  # the request at 0 s leaves the window at 60 s
    assert windows.hit("key:a", 3, now=59.6) == 1  # never less than a second
    assert windows.hit("key:b", 3, now=30.0) is None  # buckets are counted apart
    # A refused request is not counted: once the first leaves, one more goes through, then the window is full.
    assert windows.hit("key:a", 3, now=60.0) is None
    assert windows.hit("key:a", 3, now=60.5) == 10


def test_a_lower_limit_for_a_bucket_counts_what_it_already_let_through() -> None:
    windows = MemoryWindows()
    for t in range(5):
        assert windows.hit("key:a", 10, now=float(t)) is None
    # The key's limit lowered to 2 (its rpm changed): room again once all but one of the five have left.
    assert windows.hit("key:a", 2, now=10.0) == 53


def test_buckets_nobody_used_for_a_minute_are_dropped() -> None:
    windows = MemoryWindows()
    for number in range(windows.SWEEP_EVERY - 1):
        windows.hit(f"ip:10.0.{number // 256}.{number % 256}", 5, now=0.0)
    windows.hit("ip:127.0.0.1", 5, now=120.0)  # the sweep's turn: every other bucket is a minute old
    assert windows.hit("ip:127.0.0.1", 5, now=120.0) is None
    assert len(windows._windows) == 1


def test_the_limiter_without_redis_uses_the_memory_windows() -> None:
    limiter = RateLimiter(Settings())

    async def hits() -> list[float | None]:
        return [await limiter.hit("ip:127.0.0.1", 2) for _ in range(3)]

    first, second, third = asyncio.run(hits())
    assert first is None and second is None
    assert third is not None and 1 <= third <= 60
