"""Outside probe F13: answers under a rate limit carry OpenAI's `x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` (a duration as OpenAI writes it: `12ms`, `1.5s`,
`1m0s`), the 200s and the 429 alike, from the count the limiter makes anyway: on Redis, the same one round trip."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from sentinel.keys.ratelimit import RateLimiter, Window, duration
from sentinel.settings import Settings
from tests.conftest import REDIS_URL, clean_env, start_server

#: A duration as OpenAI's reset headers write it.
DURATION = re.compile(r"^(\d+ms|(\d+m)?\d+(\.\d+)?s)$")


def seconds_of(said: str) -> float:
    if said.endswith("ms"):
        return int(said[:-2]) / 1000
    minutes, _, rest = said[:-1].rpartition("m")
    return int(minutes or 0) * 60 + float(rest)


def test_a_limited_server_says_where_each_caller_stands(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ANONYMOUS_RPM="3")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            answers = [client.get("/v1/models") for _ in range(4)]
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-limit-requests"] for a in answers] == ["3"] * 4
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0", "0"]
    for answer in answers:
        reset = answer.headers["x-ratelimit-reset-requests"]
        assert DURATION.match(reset) and 0 < seconds_of(reset) <= 60, reset
    assert int(answers[3].headers["retry-after"]) >= 1


def test_no_limit_says_nothing(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ANONYMOUS_RPM="0")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        answer = httpx.get(f"{base}/v1/models", timeout=30)
    finally:
        server.stop()
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.startswith("x-ratelimit-")]


@pytest.mark.parametrize(
    ("seconds", "said"), [(0.012, "12ms"), (1, "1s"), (1.5, "1.5s"), (59.9994, "59.999s"), (60, "1m0s"), (-1, "0ms")]
)
def test_durations_are_written_as_openai_writes_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_the_lean_redis_count_says_what_is_left_and_shares_the_librarys_window(redis_namespace: str) -> None:
    lean = RateLimiter(Settings(redis_url=REDIS_URL, redis_namespace=redis_namespace))
    library = RateLimiter(Settings(redis_url=REDIS_URL, redis_namespace=redis_namespace))
    library.lean = None  # counts with the library's own client, as an API process of the last release did
    assert lean.lean is not None

    async def takes() -> list[Window | None]:
        return [
            await lean.take("key:headers", 3),
            await library.take("key:headers", 3),
            await lean.take("key:headers", 3),
            await lean.take("key:headers", 3),
        ]

    first, second, third, refused = asyncio.run(takes())
    assert first is not None and (first.limit, first.remaining, first.retry_after) == (3, 2, None)
    assert first.reset_seconds is not None and 59 < first.reset_seconds <= 60
    # The library's client says only that the request got through (what is left would be a second round trip).
    assert second is not None and (second.remaining, second.reset_seconds, second.retry_after) == (None, None, None)
    assert third is not None and (third.remaining, third.retry_after) == (0, None)
    assert refused is not None and refused.remaining == 0
    assert refused.retry_after is not None and 1 <= refused.retry_after <= 60
    assert refused.reset_seconds is not None and 0 < refused.reset_seconds <= 60
