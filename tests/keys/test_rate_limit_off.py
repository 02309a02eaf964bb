"""No rate limit is a setting of its own: ``SENTINEL_ANONYMOUS_RPM=0`` / ``SENTINEL_DEFAULT_KEY_RPM=0`` let every
request through uncounted, as a limit of NO_LIMIT_RPM (10**9) or more still does (set-ups and benchmarks use it)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sentinel.keys.ratelimit import NO_LIMIT, NO_LIMIT_RPM, RateLimiter
from sentinel.settings import Settings
from tests.conftest import clean_env, start_server

#: More requests than the window's smallest real limit would let through, so a counted one would be refused.
MANY = 50


def test_zero_in_the_settings_means_no_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_ANONYMOUS_RPM", "0")
    monkeypatch.setenv("SENTINEL_DEFAULT_KEY_RPM", "0")
    settings = Settings()  # type: ignore[call-arg]
    assert (settings.anonymous_rpm, settings.default_key_rpm) == (NO_LIMIT, NO_LIMIT)


@pytest.mark.parametrize("per_minute", [NO_LIMIT, NO_LIMIT_RPM, NO_LIMIT_RPM * 2])
def test_no_limit_lets_every_request_through_in_memory(per_minute: int) -> None:
    limiter = RateLimiter(Settings())  # type: ignore[call-arg]

    async def hits() -> list[float | None]:
        return [await limiter.hit("ip:127.0.0.1", per_minute) for _ in range(MANY)]

    assert asyncio.run(hits()) == [None] * MANY
    # Nothing was counted: the memory keeps no window for the bucket.
    assert limiter.memory is not None and "ip:127.0.0.1" not in limiter.memory._windows


def test_a_counted_limit_still_refuses() -> None:
    limiter = RateLimiter(Settings())  # type: ignore[call-arg]

    async def hits() -> list[float | None]:
        return [await limiter.hit("ip:127.0.0.1", 1) for _ in range(2)]

    allowed, refused = asyncio.run(hits())
    assert allowed is None and refused is not None


def test_a_server_with_no_anonymous_limit_answers_every_request(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ANONYMOUS_RPM="0")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            answers = [client.get("/v1/models").status_code for _ in range(MANY)]
    finally:
        server.stop()
    assert answers == [200] * MANY, answers
